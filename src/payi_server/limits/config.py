"""Validation of a limit's configuration, independent of storage (create, update, use-case ``limit_config``).

- ``limit_type`` is ``block`` or ``allow`` (case-insensitive: old clients send ``"Allow"``), default ``allow``;
- ``threshold`` is 0.75 to 0.99 (1.0 is accepted and means the default, no threshold);
- ``max`` is above 0 and at most ``MAX_AMOUNT`` (1e8 USD, what ``Money`` stores with room for sums), on the ledger's 1e-10 grid (``invalid_max_limit``);
- beyond Pay-i: ``enforcement`` (``default`` | ``strict``; a body field or the property ``enforcement``) and
  ``period`` (``day`` | ``week`` | ``month``, also ``daily``/``weekly``/``monthly``) with an IANA ``timezone``.

Every failure is an ``ApiError`` 400 with the code the caller passes (``create_limit_validation_failed`` ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import api_error
from ..store.types import MAX_AMOUNT, MONEY_QUANTUM
from .model import ENFORCEMENTS, LIMIT_TYPES, zone

CREATE_FAILED = "create_limit_validation_failed"
UPDATE_FAILED = "update_limit_validation_failed"
LIMIT_ID = re.compile(r"^[A-Za-z0-9._:@~+=-]{1,100}$")
TAG = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_MAX = MAX_AMOUNT
THRESHOLD_MIN, THRESHOLD_MAX = Decimal("0.75"), Decimal("0.99")
MAX_PROPERTIES = 100
MAX_TAGS = 50
_PERIOD_ALIASES = {"day": "day", "daily": "day", "week": "week", "weekly": "week", "month": "month", "monthly": "month"}



@dataclass(frozen=True, slots=True)
class LimitConfig:
    """What makes two limits of the same name "the same limit" (idempotent create)."""

    max: Decimal
    limit_type: str
    threshold: Decimal | None
    enforcement: str
    period: str | None
    timezone: str | None

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether a stored limit row has this configuration (threshold 1 and no threshold are the same)."""
        def threshold(value: Decimal | None) -> Decimal:
            return Decimal(1) if value is None else Decimal(value).normalize()

        return (
            Decimal(row["max"]).quantize(MONEY_QUANTUM) == self.max
            and row["limit_type"] == self.limit_type
            and threshold(row["threshold"]) == threshold(self.threshold)
            and (row["enforcement"] or "default") == self.enforcement
            and row["period"] == self.period
            and (row["timezone"] or "UTC") == (self.timezone or "UTC")
        )

    def as_json(self) -> dict[str, Any]:
        """The config as stored in a use-case definition's ``limit_config`` (and echoed on the wire)."""
        out: dict[str, Any] = {
            "max": float(self.max),
            "limit_type": self.limit_type,
            "threshold": float(self.threshold) if self.threshold is not None else None,
        }
        if self.enforcement != "default":
            out["enforcement"] = self.enforcement
        if self.period:
            out["period"] = self.period
            out["timezone"] = self.timezone or "UTC"
        return out


def _decimal(value: float | int | str | Decimal, code: str, field: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise api_error(code, "number", field=field) from None
    if not result.is_finite():
        raise api_error(code, "finite", field=field)
    return result


def check_max(value: float | int | str | Decimal) -> Decimal:
    """A limit's ``max`` in USD, on the ledger's 1e-10 grid: above 0 and at most ``MAX_MAX`` (``invalid_max_limit``)."""
    amount = _decimal(value, "invalid_max_limit", "max")
    if amount > MAX_MAX:
        raise api_error("invalid_max_limit", "too_large", max_max=MAX_MAX)
    # Bounded on both sides before quantizing: a huge negative amount has more digits than the decimal context
    # holds, and quantize() would raise InvalidOperation (a 500).
    if amount <= 0 or (amount := amount.quantize(MONEY_QUANTUM)) <= 0:
        raise api_error("invalid_max_limit", "not_positive")
    return amount


def check_name(value: str, code: str) -> str:
    """A limit name: 1 to 200 characters, no control characters (else 400 with ``code``)."""
    if not isinstance(value, str) or not value.strip() or len(value) > 200 or _CONTROL.search(value):
        raise api_error(code, "name")
    return value


def check_properties(props: Mapping[str, Any] | None, code: str) -> dict[str, str | None]:
    """Property names are 1 to 200 characters, values at most 10000; ``None`` values mean "delete"."""
    out: dict[str, str | None] = {}
    for key, value in (props or {}).items():
        if not isinstance(key, str) or not key or len(key) > 200 or "\x00" in key:
            raise api_error(code, "property_name")
        if value is not None and (not isinstance(value, str) or len(value) > 10_000 or "\x00" in value):
            raise api_error(code, "property_value", key=key)
        out[key] = value
    if len(out) > MAX_PROPERTIES:
        raise api_error(code, "properties", max_properties=MAX_PROPERTIES)
    return out


def enforcement_mode(value: str | None, code: str) -> str | None:
    """``default`` / ``strict`` (case-insensitive), ``None`` when not given; 400 with ``code`` otherwise."""
    if value is None:
        return None
    folded = value.strip().lower() if isinstance(value, str) else ""
    if folded not in ENFORCEMENTS:
        raise api_error(code, "enforcement")
    return folded


def parse_config(
    *,
    max: float | int | str | Decimal,
    limit_type: str | None = None,
    threshold: float | int | str | Decimal | None = None,
    enforcement: str | None = None,
    period: str | None = None,
    timezone: str | None = None,
    properties: Mapping[str, Any] | None = None,
    code: str = CREATE_FAILED,
) -> LimitConfig:
    """Validate a limit configuration (create, or a use case's ``limit_config``); raise ``ApiError`` 400."""
    amount = check_max(max)
    kind = "allow" if limit_type is None else (limit_type.strip().lower() if isinstance(limit_type, str) else "")
    if kind not in LIMIT_TYPES:
        raise api_error(code, "limit_type")
    level: Decimal | None = None
    if threshold is not None:
        level = _decimal(threshold, code, "threshold").normalize()
        if level != 1 and not THRESHOLD_MIN <= level <= THRESHOLD_MAX:
            raise api_error(code, "threshold")
    field_mode = enforcement_mode(enforcement, code)
    prop = (properties or {}).get("enforcement")
    prop_mode = enforcement_mode(prop, code) if prop is not None else None
    if field_mode and prop_mode and field_mode != prop_mode:
        raise api_error(code, "enforcement_conflict")
    cycle = None
    if period is not None:
        cycle = _PERIOD_ALIASES.get(period.strip().lower()) if isinstance(period, str) else None
        if cycle is None:
            raise api_error(code, "period")
    if timezone is not None:
        if cycle is None:
            raise api_error(code, "timezone_without_period")
        try:
            zone(timezone)
        except ValueError:
            raise api_error(code, "timezone") from None
    return LimitConfig(amount, kind, level, field_mode or prop_mode or "default", cycle, timezone)


def check_tags(tags: list[str] | None) -> list[str] | None:
    """Legacy ``limit_tags``: at most 50, each ``[A-Za-z0-9_-]{1,64}`` (``invalid_tags``); duplicates dropped."""
    if tags is None:
        return None
    if len(tags) > MAX_TAGS or not all(isinstance(t, str) and TAG.match(t) for t in tags):
        raise api_error("invalid_tags", "limit", max_tags=MAX_TAGS)
    return list(dict.fromkeys(tags))


def shown(value: str) -> str:
    """A client-sent id as it may appear in an error message: never something that looks like an API key."""
    if not LIMIT_ID.match(value) or value.lower().startswith("payi_"):
        return "(invalid id)"
    return value
