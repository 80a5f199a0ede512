"""One priced event on its way to the request log: what the meter prepares and the recorder writes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..limits.leases import Hold
from .event import Event


@dataclass(slots=True)
class Pending:
    """One priced event waiting to be written."""

    app_id: int
    request_id: int
    event: Event
    category: str
    resource: str
    resource_id: int | None
    cost_input: Decimal
    cost_output: Decimal
    unknown_units: dict[str, dict[str, int]]
    ingest_timestamp: datetime
    warnings: list[str] = field(default_factory=list)
    store_payload: bool = False
    holds: list[Hold] | None = None  # proxied calls: what admission took from this process's budget leases
    blocked_states: dict[str, str] | None = None
    # Whether the record's whole ``xproxy_result`` is built after its commit: for a caller who waits (single ingest)
    # and for the recorder's observers; bulk ingest answers with counts, a proxied call was answered already
    want_result: bool = True
    lenient_limits: bool = False  # proxied calls: a limit deleted meanwhile is skipped, the call still recorded
    count_blocked: bool = False  # a refusal (decided in memory, from the leases) is counted when it is recorded
    attempts: int = 0
    future: asyncio.Future[dict[str, Any]] | None = None
    cost_total: Decimal = field(init=False)  # input + output (the costs are set once, here)

    def __post_init__(self) -> None:
        self.cost_total = self.cost_input + self.cost_output
