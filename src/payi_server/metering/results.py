"""``xproxy_result``: built the same way for a request just recorded and for one read back from the log."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def cost_wire(cost_input: Decimal, cost_output: Decimal, cost_total: Decimal) -> dict[str, Any]:
    return {
        "currency": "usd",
        "input": {"base": float(cost_input)},
        "output": {"base": float(cost_output)},
        "total": {"base": float(cost_total)},
    }


def build_result(
    row: Mapping[str, Any], limit_states: Mapping[str, str], *, duplicate: bool = False
) -> dict[str, Any]:
    """``row`` has the columns of ``requests``; ``limit_states`` maps client limit ids to states."""
    result: dict[str, Any] = {"request_id": str(row["id"])}
    if row.get("resource_id") is not None:
        result["resource_id"] = str(row["resource_id"])
    for name in ("use_case_id", "use_case_name", "use_case_step", "user_id", "account_name"):
        if row.get(name) is not None:
            result[name] = row[name]
    if row.get("use_case_version") is not None:
        result["use_case_version"] = row["use_case_version"]
    if row.get("request_tags"):
        result["request_tags"] = list(row["request_tags"])
    result["limits"] = {limit_id: {"state": state} for limit_id, state in limit_states.items()}
    blocked = [limit_id for limit_id, state in limit_states.items() if state == "blocked"]
    if blocked:
        result["blocked_limit_ids"] = blocked
    else:
        result["cost"] = cost_wire(row["cost_input"], row["cost_output"], row["cost_total"])
    if row.get("unknown_units"):
        result["unknown_units"] = row["unknown_units"]
    result["duplicate_request"] = duplicate
    extra = row.get("result") or {}
    if extra.get("warnings"):
        result["warnings"] = list(extra["warnings"])
    return result
