"""Anthropic, ingest mode: call Anthropic directly; the SDK reports usage to Pay-i in the background.

PAYI_API_KEY=... PAYI_BASE_URL=http://127.0.0.1:8000 ANTHROPIC_API_KEY=sk-ant-... python examples/anthropic_ingest.py
"""

import os

from anthropic import Anthropic

from payi import Payi
from payi.lib.instrument import get_context, payi_instrument, track_context

try:  # this SDK's addition: ingest runs in the background, payi_flush() waits for it
    from payi.lib.instrument import payi_flush
except ImportError:  # the official SDK ingests before each call returns: nothing to wait for
    def payi_flush(timeout: float | None = None) -> bool:
        return True

payi_instrument(payi=Payi())

client = Anthropic()  # ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL, if set) from the environment
model = os.environ.get("ANTHROPIC_MODEL", "claude-3-5-haiku-20241022")

with track_context(use_case_name="example_anthropic", user_id="example-user"):
    message = client.messages.create(
        model=model, max_tokens=64, messages=[{"role": "user", "content": "Say hello in five words."}]
    )
    print("answer:", message.content[0].text)

    with client.messages.stream(
        model=model, max_tokens=64, messages=[{"role": "user", "content": "Count to five."}]
    ) as stream:
        print("streamed:", "".join(stream.text_stream))

payi_flush()
result = get_context()["last_result"]
print("pay-i result:", result)
print("cost (USD):", getattr(getattr(getattr(result, "cost", None), "total", None), "base", None))
