"""OpenAI, proxy mode: the OpenAI client talks to Pay-i, which calls OpenAI, prices the call and adds
``xproxy_result`` to the response.

    PAYI_API_KEY=... PAYI_BASE_URL=http://127.0.0.1:8000 OPENAI_API_KEY=sk-... python examples/openai_proxy.py
"""

import os

from openai import OpenAI

from payi import Payi
from payi.lib.helpers import payi_openai_url
from payi.lib.instrument import payi_instrument, track_context

payi_key = os.environ["PAYI_API_KEY"]
payi = Payi()  # PAYI_API_KEY and PAYI_BASE_URL from the environment
payi_instrument(payi=payi, config={"proxy": True})  # proxy mode: calls get the context's xProxy-* headers

client = OpenAI(
    api_key=os.environ["OPENAI_API_KEY"],
    base_url=payi_openai_url(),  # {PAYI_BASE_URL}/api/v1/proxy/openai/v1
    default_headers={"xProxy-Api-Key": payi_key},
)
model = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")

with track_context(use_case_name="example_openai_proxy", user_id="example-user"):
    completion = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Say hello in five words."}]
    )

print("answer:", completion.choices[0].message.content)
result = (completion.model_extra or {}).get("xproxy_result", {})
print("pay-i result:", result)
print("cost (USD):", result.get("cost", {}).get("total", {}).get("base"))
