"""THE metering path: event -> price (version in force at the event's time, price-as) -> cost -> record.

Ingest and the proxy both come here. ``prepare`` is synchronous and touches no database: it checks the event,
resolves its price from the in-memory catalog and computes the cost in ``Decimal``. The recorder then charges
limits and writes the request in a group commit; ``record`` waits for that commit, ``record_later`` does not.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..auth.cache import Principal
from ..errors import api_error
from ..ids import IdGenerator
from ..limits.leases import Hold
from ..pricing.book import PriceBook, Resolved
from ..pricing.cost import price_call
from ..store.changes import utcnow
from ..store.types import MAX_REQUEST_COST
from .event import Event, Units
from .event import storable as _storable
from .recorder import Pending, Recorder

MAX_FUTURE = timedelta(minutes=5)


@dataclass(slots=True)  # not frozen: built for every call naming a limit, and a frozen __init__ costs more
class ResolvedAs:
    """What ``PriceBook.resolve`` gave for ``(category, resource)`` at an event's time, while the catalog was at
    ``generation`` (``PriceBook.generation``)."""

    category: str
    resource: str
    generation: int
    resolved: Resolved | None


def _all_units_unknown(units: Units) -> dict[str, dict[str, int]]:
    unknown: dict[str, dict[str, int]] = {}
    for name, sides in units.items():
        kept = {side: n for side, n in sides.items() if n}
        if kept:
            unknown[name] = kept
    return unknown


def _storable_event(event: Event) -> None:
    """Make an event's text storable before it is priced, deduplicated, rolled up and recorded: the provider may
    have answered already (proxy), so its record must not be refused for a NUL or an over-long name."""
    event.resource = _storable(event.resource, 300) or ""
    event.provider_response_id = _storable(event.provider_response_id, 300)
    event.provider_uri = _storable(event.provider_uri, 500)
    attr = event.attribution
    attr.use_case_id = _storable(attr.use_case_id, 64)
    attr.use_case_step = _storable(attr.use_case_step, 200)
    attr.user_id = _storable(attr.user_id, 200)
    attr.account_name = _storable(attr.account_name, 200)
    attr.resource_scope = _storable(attr.resource_scope, 100)
    attr.price_as_resource = _storable(attr.price_as_resource, 300)
    for name in ("properties", "use_case_properties"):
        props = getattr(attr, name)
        if props and any("\x00" in k or (v is not None and "\x00" in v) for k, v in props.items()):
            setattr(attr, name, {_storable(k) or "": _storable(v) for k, v in props.items()})
    payload = event.payload
    if payload is not None:
        payload.provider_request_json = _storable(payload.provider_request_json)
        payload.provider_request_reasoning_json = _storable(payload.provider_request_reasoning_json)


class Meter:
    def __init__(self, book: PriceBook, ids: IdGenerator, recorder: Recorder) -> None:
        self.book = book
        self.ids = ids
        self.recorder = recorder

    def check_category(self, principal: Principal, category: str) -> None:
        """An event must name a category the catalog knows (managed, or the organisation's custom one)."""
        if not self.book.category_exists(principal.org_id, category):
            raise api_error("category_not_found", category=category[:200], status=400)

    def prepare(
        self,
        principal: Principal,
        event: Event,
        *,
        now: datetime | None = None,
        holds: list[Hold] | None = None,
        request_id: int | None = None,
        blocked_states: dict[str, str] | None = None,
        resolved_as: ResolvedAs | None = None,
    ) -> Pending:
        """Price ``event`` for the recorder. ``resolved_as``: a resolution made for the same event time (the gate's,
        at admission), used when it names the same category and resource and the catalog has not changed since."""
        now = now or utcnow()
        assert principal.app_id is not None
        if event.event_timestamp > now + MAX_FUTURE:
            raise api_error("invalid_ingest_event_timestamp")
        _storable_event(event)
        attr = event.attribution
        category = attr.price_as_category or event.category
        resource = attr.price_as_resource or event.resource
        self.check_category(principal, category)
        if attr.use_case_name and not attr.use_case_id:
            # A name alone opens a new instance, with a server-generated id (returned in xproxy_result).
            attr.use_case_id = str(uuid.uuid4())
        warnings: list[str] = []
        if (
            resolved_as is not None
            and resolved_as.generation == self.book.generation
            and resolved_as.category == category
            and resolved_as.resource == resource
        ):
            resolved = resolved_as.resolved
        else:
            resolved = self.book.resolve(principal.org_id, category, resource, event.event_timestamp)
        if resolved is None:
            cost_in = cost_out = None
            unknown = _all_units_unknown(event.units)
            resource_id = None
            warnings.append(
                f"Resource '{resource[:300]}' in category '{category}' has no price: the request is recorded as unpriced"
            )
        else:
            try:
                # the resource's large-context rule names the units, whoever produced them; they are recorded so
                event.units, cost = price_call(event.units, resolved.version)
            except ValueError as exc:
                raise api_error("invalid_units", "pricing", reason=exc) from None
            cost_in, cost_out, unknown = cost.input, cost.output, cost.unknown_units
            if cost.total > MAX_REQUEST_COST:
                if event.source == "ingest":
                    raise api_error("cost_out_of_range", max_request_cost=MAX_REQUEST_COST)
                # A proxied call was answered already: it is recorded, charged the largest cost a call may have.
                cost_in = min(cost_in, MAX_REQUEST_COST)
                cost_out = min(cost_out, MAX_REQUEST_COST - cost_in)
                warnings.append(f"The call's cost is above {MAX_REQUEST_COST} USD: charged {MAX_REQUEST_COST}")
            resource_id = resolved.resource_id
            if unknown:
                warnings.append(
                    "No price for units " + ", ".join(sorted(unknown)) + f" of '{resolved.version.resource}': not counted"
                )
        zero = Decimal(0)
        return Pending(
            app_id=principal.app_id,
            request_id=request_id if request_id is not None else self.ids.next(),
            event=event,
            category=category,
            resource=resource,
            resource_id=resource_id,
            cost_input=cost_in if cost_in is not None else zero,
            cost_output=cost_out if cost_out is not None else zero,
            unknown_units=unknown,
            ingest_timestamp=now,
            warnings=warnings,
            store_payload=principal.store_prompts and not attr.logging_disabled and event.payload is not None,
            holds=holds,
            blocked_states=blocked_states,
        )

    async def record(self, principal: Principal, event: Event) -> tuple[Pending, dict[str, Any]]:
        """Price and record an event; return once it is committed, with its ``xproxy_result``."""
        pending = self.prepare(principal, event)
        return pending, await self.recorder.submit(pending)

    def record_later(self, pending: Pending) -> None:
        self.recorder.submit_nowait(pending)
