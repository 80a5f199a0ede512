"""AWS Bedrock, ingest mode: boto3 calls Bedrock directly; the SDK reports usage to Pay-i in the background.

    PAYI_API_KEY=... PAYI_BASE_URL=http://127.0.0.1:8000 AWS_REGION=us-east-1 python examples/bedrock_ingest.py

AWS credentials come from the usual places (environment, ~/.aws, instance role).
"""

import json
import os

import boto3

from payi import Payi
from payi.lib.instrument import get_context, payi_instrument, track_context

try:  # this SDK's addition: ingest runs in the background, payi_flush() waits for it
    from payi.lib.instrument import payi_flush
except ImportError:  # the official SDK ingests before each call returns: nothing to wait for
    def payi_flush(timeout: float | None = None) -> bool:
        return True

payi_instrument(payi=Payi())  # before creating the boto3 client: clients created earlier are not instrumented

bedrock = boto3.client("bedrock-runtime", region_name=os.environ.get("AWS_REGION", "us-east-1"))
model_id = os.environ.get("BEDROCK_MODEL_ID", "anthropic.claude-3-haiku-20240307-v1:0")

with track_context(use_case_name="example_bedrock", user_id="example-user"):
    answer = bedrock.converse(
        modelId=model_id, messages=[{"role": "user", "content": [{"text": "Say hello in five words."}]}]
    )
    print("answer:", answer["output"]["message"]["content"][0]["text"])

    body = json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "Count to five."}],
        }
    )
    invoked = json.loads(bedrock.invoke_model(modelId=model_id, body=body)["body"].read())
    print("invoked:", invoked["content"][0]["text"])

payi_flush()
result = get_context()["last_result"]
print("pay-i result:", result)
print("cost (USD):", getattr(getattr(getattr(result, "cost", None), "total", None), "base", None))
