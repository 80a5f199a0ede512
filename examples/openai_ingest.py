"""OpenAI, ingest mode: call OpenAI directly; the SDK reports each call's usage to Pay-i in the background.

PAYI_API_KEY=... PAYI_BASE_URL=http://127.0.0.1:8000 OPENAI_API_KEY=sk-... python examples/openai_ingest.py
"""

import os

from openai import OpenAI

from payi import Payi
from payi.lib.instrument import get_context, payi_instrument, track_context

try:  # this SDK's addition: ingest runs in the background, payi_flush() waits for it
    from payi.lib.instrument import payi_flush
except ImportError:  # the official SDK ingests before each call returns: nothing to wait for
    def payi_flush(timeout: float | None = None) -> bool:
        return True

payi_instrument(payi=Payi())  # PAYI_API_KEY and PAYI_BASE_URL from the environment

client = OpenAI()  # OPENAI_API_KEY (and OPENAI_BASE_URL, if set) from the environment
model = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")

with track_context(use_case_name="example_openai", user_id="example-user"):
    completion = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Say hello in five words."}]
    )
    print("answer:", completion.choices[0].message.content)

    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Count to five."}], stream=True
    )
    print("streamed:", "".join(chunk.choices[0].delta.content or "" for chunk in stream))

payi_flush()  # ingest runs in the background: wait for the results before reading them
result = get_context()["last_result"]
print("pay-i result:", result)
print("cost (USD):", getattr(getattr(getattr(result, "cost", None), "total", None), "base", None))
