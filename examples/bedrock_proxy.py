"""AWS Bedrock, proxy mode: boto3 signs each request for Bedrock as usual; the instrumentor then sends the signed
request through Pay-i (``{PAYI_BASE_URL}/api/v1/proxy/aws.bedrock``), which forwards it unchanged and prices it.

    PAYI_API_KEY=... PAYI_BASE_URL=http://127.0.0.1:8000 AWS_REGION=us-east-1 python examples/bedrock_proxy.py
"""

import json
import os

import boto3

from payi import Payi
from payi.lib.instrument import payi_instrument, track_context

payi_instrument(payi=Payi(), config={"proxy": True})  # must come before boto3.client(...)

bedrock = boto3.client("bedrock-runtime", region_name=os.environ.get("AWS_REGION", "us-east-1"))
model_id = os.environ.get("BEDROCK_MODEL_ID", "anthropic.claude-3-haiku-20240307-v1:0")
body = json.dumps(
    {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Say hello in five words."}],
    }
)

with track_context(use_case_name="example_bedrock_proxy", user_id="example-user"):
    response = json.loads(bedrock.invoke_model(modelId=model_id, body=body)["body"].read())

print("answer:", response["content"][0]["text"])
result = response.get("xproxy_result", {})  # Pay-i adds it to the model's JSON
print("pay-i result:", result)
print("cost (USD):", result.get("cost", {}).get("total", {}).get("base"))
