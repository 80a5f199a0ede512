"""Provider usage -> Pay-i units.

Shared by the SDK's instrumentation and the server's proxy, so this package depends on the standard library
only and does no I/O. Every function takes already-parsed JSON (dicts, lists, ints) and returns ``Units``.

Conventions (the same for every provider module):

* ``Units`` is ``dict[str, dict[str, int]]``: unit name -> ``{"input": n, "output": m}``, for example
  ``{"text": {"input": 120, "output": 30}, "text_cache_read": {"input": 100}, "reasoning": {"output": 12}}``.
* **Zero is omitted.** A side whose count is 0 is left out, and a unit whose sides are all 0 is left out, so a
  call that used nothing yields ``{}``. (The official SDK always sends ``text`` and pads the other side with
  ``0``; both price identically.) Whether usage was *seen at all* is a separate question answered by the
  stream accumulators' ``has_usage``: an empty dict is never evidence of a free call.
* Counts are non-negative ``int``. Missing, ``None``, boolean or non-numeric provider values count as 0;
  a difference that would go negative (``prompt - cached`` on malformed input) is clamped to 0.
* Providers are explicit about which totals include which details (design/traps.md row 3): OpenAI
  ``prompt_tokens`` includes cached tokens and ``completion_tokens`` includes reasoning tokens; Anthropic and
  Bedrock ``input_tokens`` / ``inputTokens`` exclude cache reads and writes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeAlias

__all__ = [
    "INPUT",
    "OUTPUT",
    "Units",
    "add_units",
    "as_int",
    "merge_units_into",
    "normalize_units",
    "put_unit",
    "side_total",
]

Units: TypeAlias = dict[str, dict[str, int]]

INPUT: Final = "input"
OUTPUT: Final = "output"


def as_int(value: Any) -> int:
    """A provider count as a non-negative int (``None``, bools, garbage and negatives count as 0)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value if value > 0 else 0
    if isinstance(value, float):
        if not math.isfinite(value) or value <= 0:
            return 0
        return int(value)
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            return 0
        return number if number > 0 else 0
    return 0


def put_unit(units: Units, key: str, input: int = 0, output: int = 0) -> None:
    """Add ``input``/``output`` to ``units[key]``, leaving zero (or negative) sides and empty units out."""
    if input > 0 or output > 0:
        entry = units.setdefault(key, {})
        if input > 0:
            entry[INPUT] = entry.get(INPUT, 0) + input
        if output > 0:
            entry[OUTPUT] = entry.get(OUTPUT, 0) + output


def merge_units_into(target: Units, source: Mapping[str, Any]) -> Units:
    """Add ``source`` (any shape ``normalize_units`` accepts) into ``target`` in place; returns ``target``."""
    for key, value in normalize_units(source).items():
        put_unit(target, key, value.get(INPUT, 0), value.get(OUTPUT, 0))
    return target


def add_units(*many: Mapping[str, Any]) -> Units:
    """The sum of several unit dicts (e.g. a model call plus its guardrail units)."""
    total: Units = {}
    for units in many:
        merge_units_into(total, units)
    return total


def normalize_units(raw: Mapping[str, Any] | None) -> Units:
    """Units as received on the wire, made canonical.

    Tolerates what real clients send to ``/api/v1/ingest``: ``{}``, ``{"input": n}``, ``{"output": n}``,
    ``None`` sides, float counts, and a **bare int** (the official SDK's non-streaming Bedrock Nova path sends
    ``"text_cache_read": 12``), which is read as an input count. Zero sides and empty units are dropped.
    """
    out: Units = {}
    if not raw:
        return out
    for key, value in raw.items():
        if not isinstance(key, str):
            continue
        if isinstance(value, Mapping):
            put_unit(out, key, as_int(value.get(INPUT)), as_int(value.get(OUTPUT)))
        else:
            put_unit(out, key, as_int(value), 0)
    return out


def side_total(units: Mapping[str, Mapping[str, int]], side: str, keys: Iterable[str] | None = None) -> int:
    """Sum of one side (``"input"`` or ``"output"``) over ``keys`` (default: every unit)."""
    names = units.keys() if keys is None else keys
    return sum(units[name].get(side, 0) for name in names if name in units)
