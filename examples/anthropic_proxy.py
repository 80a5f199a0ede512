"""Anthropic, proxy mode: the Anthropic client talks to Pay-i, which calls Anthropic and prices the call.

PAYI_API_KEY=... PAYI_BASE_URL=http://127.0.0.1:8000 ANTHROPIC_API_KEY=sk-ant-... python examples/anthropic_proxy.py
"""

import os

from anthropic import Anthropic

from payi import Payi
from payi.lib.helpers import payi_anthropic_url
from payi.lib.instrument import payi_instrument, track_context

payi_key = os.environ["PAYI_API_KEY"]
payi = Payi()  # PAYI_API_KEY and PAYI_BASE_URL from the environment
payi_instrument(payi=payi, config={"proxy": True})  # proxy mode: calls get the context's xProxy-* headers

client = Anthropic(
    api_key=os.environ["ANTHROPIC_API_KEY"],
    base_url=payi_anthropic_url(),  # {PAYI_BASE_URL}/api/v1/proxy/anthropic
    default_headers={"xProxy-Api-Key": payi_key},
)
model = os.environ.get("ANTHROPIC_MODEL", "claude-3-5-haiku-20241022")

with track_context(use_case_name="example_anthropic_proxy", user_id="example-user"):
    message = client.messages.create(
        model=model, max_tokens=64, messages=[{"role": "user", "content": "Say hello in five words."}]
    )

print("answer:", message.content[0].text)
result = (message.model_extra or {}).get("xproxy_result", {})
print("pay-i result:", result)
print("cost (USD):", result.get("cost", {}).get("total", {}).get("base"))
