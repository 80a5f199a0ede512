"""The proxy's one way into metering: admit a call (estimate, budget leases, refusal), journal it, price what the
provider answered, give the provisional ``xproxy_result``, and record it after the response.

The proxy route knows HTTP and the providers' wire formats; it never reaches into limits, the recorder or the
journal. One :class:`MeteredCall` per proxied call:

- ``admit`` (before the provider is called): the model is resolved (price-as; the application's deployment
  mapping; what the provider reported for the same deployment before; the request's model), the call is
  estimated by the route's estimator (exactly, or by a looser bound while the limits are far from their max; nearer,
  the route prepares its exact estimates ahead), and the estimate is held on every named block limit from this process's
  budget leases (in memory). A refusal is recorded (its limits count it as blocked) and raised as a 400 with the
  limits' states. A strict limit refuses a call it cannot bound (``limit_estimate_unavailable``).
- ``started``: the journal notes the call before the provider is called (a crash from then on cannot lose it).
- ``price``: the provider's usage is priced and the result built from memory: the limits' states are this
  process's view (spend last read + what it settled since + this call).
- ``finish``: the call is queued for the recorder's group commit (its holds settle there), exactly once, whatever
  happened (success, provider error, timeout, client disconnect, cancellation).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..auth.cache import Principal
from ..error_codes import message
from ..errors import ApiError, api_error
from ..limits.leases import PREPARE_EXACT_ROOM, Hold, LeaseBook
from ..limits.model import state_after
from ..pricing.book import PriceBook
from ..pricing.deployments import Deployments
from ..pricing.catalog import PriceVersion
from ..store.changes import utcnow
from .batch import result_values
from .event import Attribution, Event, Payload, Units, Usage
from .journal import Journal
from .meter import Meter, ResolvedAs
from .pending import Pending
from .results import build_result

UNKNOWN_MODEL = "system.unknown_model"
REPORTED_MODELS_MAX = 10_000

# (model, the version that prices it, exact) -> (the estimate, the units it counted, whether it is exact), or an
# awaitable of it (where it tokenizes); the route's, as it reads requests. Not asked for ``exact``, the estimate may
# be a looser upper bound: the request's bytes while the tokenizer is still being built, so that no call waits for
# that build.
Estimate = tuple[Decimal, Units, bool]
Estimator = Callable[[str, PriceVersion, bool], Estimate | Awaitable[Estimate]]


class Gate:
    """What a process's proxied calls are metered with (one per process)."""

    def __init__(
        self, meter: Meter, leases: LeaseBook, deployments: Deployments, journal: Journal | None = None
    ) -> None:
        self.meter = meter
        self.book: PriceBook = meter.book
        self.leases = leases
        self.deployments = deployments
        self.journal = journal
        # (app, category, model or deployment the request named) -> the model the provider reported for it.
        self.reported_models: dict[tuple[int | None, str, str], str] = {}

    def check(self, principal: Principal, attribution: Attribution) -> None:
        """Refuse now what could not be recorded later: by the time the answer is priced the provider has been
        called (and a stream has started). A price-as category must exist."""
        if attribution.price_as_category:
            self.meter.check_category(principal, attribution.price_as_category)

    def call(
        self, principal: Principal, attribution: Attribution, *, category: str, named_model: str | None,
        store: bool, message_on_top: bool = False,
    ) -> MeteredCall:
        """A call about to be proxied (``check`` passed). ``message_on_top``: a refusal also carries its message at
        the top of the error body (AWS clients read it there)."""
        return MeteredCall(self, principal, attribution, category, named_model, store, message_on_top)

    def mapped_model(self, app_id: int | None, category: str, named: str) -> str | None:
        return self.deployments.model_for(app_id, category, named)


class MeteredCall:
    """One proxied call's metering: its holds, its journal entry, its price and its record."""

    def __init__(
        self,
        gate: Gate,
        principal: Principal,
        attribution: Attribution,
        category: str,
        named_model: str | None,
        store: bool,
        message_on_top: bool,
    ) -> None:
        assert principal.app_id is not None
        self.gate = gate
        self.principal = principal
        self.attribution = attribution
        self.category = category
        self.named_model = named_model
        self.store = store and not attribution.logging_disabled
        self.message_on_top = message_on_top
        self.started_at: datetime = utcnow()
        self.t0 = time.perf_counter()
        self.holds: list[Hold] | None = None
        self.request_id: int | None = None  # set when the call is journaled, before the provider is called
        self.estimate_units: Units = {}
        self.pending: Pending | None = None
        self.recorded = False
        self.resolved_as: ResolvedAs | None = None  # admission's price lookup (calls naming limits)
        # (model, the estimate or its awaitable; None without a price): how far ``admit_at_once`` got
        self._admitting: tuple[str, Estimate | Awaitable[Estimate] | None] | None = None

    # --- before the call ----------------------------------------------------------------------------------
    def model_for_estimate(self) -> str:
        """What an estimate prices: price-as, the model the application mapped the named deployment to, what the
        provider reported the last time this application called the same deployment, the request's model."""
        if self.attribution.price_as_resource:
            return self.attribution.price_as_resource
        named = self.named_model or ""
        mapped = self.gate.mapped_model(self.principal.app_id, self.category, named)
        return mapped or self.gate.reported_models.get((self.principal.app_id, self.category, named), named)

    def admit_at_once(self, estimator: Estimator) -> bool:
        """The usual admission, without an await: the call names no limit, or its estimate is known at once (not
        tokenized) and every named limit, far from its max, holds it from this process's lease. ``False``: nothing
        was held, and :meth:`admit` goes on from here (it must then be awaited)."""
        attr = self.attribution
        if not attr.limit_ids:
            return True
        app_id = self.principal.app_id
        assert app_id is not None
        gate = self.gate
        model = self.model_for_estimate()
        category = attr.price_as_category or self.category
        resolved = gate.book.resolve(self.principal.org_id, category, model or UNKNOWN_MODEL, self.started_at)
        # pricing resolves the same again when the provider reports the model estimated (the model it reported
        # last time for this deployment is what is estimated: ``model_for_estimate``)
        self.resolved_as = ResolvedAs(category, model or UNKNOWN_MODEL, gate.book.generation, resolved)
        found = None if resolved is None else estimator(model, resolved.version, False)
        self._admitting = model, found
        if not isinstance(found, tuple):
            return False  # no price, or an estimate that tokenizes (``admit`` awaits it)
        estimate, self.estimate_units, exact = found
        self.holds = gate.leases.hold_at_once(app_id, attr.limit_ids, estimate, 0 if exact else PREPARE_EXACT_ROOM)
        return self.holds is not None

    async def admit(self, estimator: Estimator, prepare: Callable[[str], None] | None = None) -> None:
        """Hold the call's estimate on every named block limit, or refuse it (raises the 400); where
        :meth:`admit_at_once` was asked already and gave ``False``, from where it stopped. ``prepare(model)`` readies
        the route's exact estimates (in the background) when the limits come near their max."""
        if self._admitting is None and self.admit_at_once(estimator):
            return
        attr = self.attribution
        app_id = self.principal.app_id
        assert app_id is not None and self._admitting is not None and self.resolved_as is not None
        model, found = self._admitting
        resolved = self.resolved_as.resolved
        leases = self.gate.leases
        estimate = None
        if resolved is not None:
            assert found is not None
            if isinstance(found, tuple):  # ``admit_at_once`` found no room for it in the leases
                estimate, self.estimate_units, exact = found
            else:  # it tokenized: the leases may hold it at once after all
                estimate, self.estimate_units, exact = await found
                self.holds = leases.hold_at_once(app_id, attr.limit_ids, estimate, 0 if exact else PREPARE_EXACT_ROOM)
                if self.holds is not None:
                    return
            if not exact and not await leases.far_from_max(app_id, attr.limit_ids, estimate, PREPARE_EXACT_ROOM):
                if prepare is not None:
                    prepare(model)  # the limits near their max: the exact estimates' tokenizer, built ahead
                if not await leases.far_from_max(app_id, attr.limit_ids, estimate):
                    found = estimator(model, resolved.version, True)
                    estimate, self.estimate_units, _ = found if isinstance(found, tuple) else await found
        admission = await leases.admit(app_id, attr.limit_ids, estimate)
        if admission.missing:
            raise api_error("invalid_limit_ids")
        if admission.unpriceable:
            self.refuse(
                {i: ("blocked" if i in admission.unpriceable else "blocked_external") for i in attr.limit_ids},
                "limit_estimate_unavailable",
                message(
                    "limit_estimate_unavailable",
                    model=(model or "an unnamed model")[:200],
                    limits=", ".join(admission.unpriceable[:10]),
                ),
            )
        if admission.blocked:
            self.refuse(admission.states, "limit_reached", message("limit_reached"))
        self.holds = admission.holds

    def refuse(self, states: dict[str, str], code: str, message: str) -> None:
        """Record a refused call (its limits count it as blocked) and raise the 400 with its states."""
        event = self.event(Usage(units={}), http_status=400)
        event.blocked = True
        pending = self.gate.meter.prepare(self.principal, event, now=self.started_at, blocked_states=states)
        pending.count_blocked = True
        self.gate.meter.record_later(pending)
        result = build_result(result_values(pending), states)
        top = message if self.message_on_top else None
        raise ApiError(400, code, message, xproxy_result=result, top_message=top)

    def started(self) -> None:
        """Journal the call before the provider is called: from here on a crash cannot lose it."""
        journal = self.gate.journal
        if journal is None:
            return
        assert self.principal.app_id is not None
        self.request_id = self.gate.meter.ids.next()
        journal.started(
            self.request_id, self.principal.app_id, self.principal.org_id,
            self.event(Usage(units={}), http_status=None), self.estimate_units,
        )

    # --- after the call ---------------------------------------------------------------------------------------
    def resource(self, reported_model: str | None) -> str:
        """What the call is priced as: price-as, the model the provider reported, the model the application mapped
        the named deployment to, the name the request gave."""
        if self.attribution.price_as_resource or reported_model:
            return self.attribution.price_as_resource or reported_model or ""
        named = self.named_model
        if not named:
            return UNKNOWN_MODEL
        return self.gate.mapped_model(self.principal.app_id, self.category, named) or named

    def event(self, usage: Usage, *, http_status: int | None) -> Event:
        attribution = self.attribution
        if usage.resource_scope and not attribution.resource_scope:
            attribution.resource_scope = usage.resource_scope
        return Event(
            source="proxy",
            category=self.category,
            resource=self.resource(usage.model),
            units=usage.units,
            event_timestamp=self.started_at,
            attribution=attribution,
            http_status_code=http_status,
            provider_response_id=usage.response_id,
            provider_uri=None,
        )

    def price(self, usage: Usage, status: int) -> dict[str, Any]:
        """Price what the provider answered and give the ``xproxy_result`` the client sees, from memory."""
        pending = self._price(usage, status)
        if usage.model and self.named_model != usage.model:
            self._learn_model(usage.model)
        return self._provisional(pending)

    def _learn_model(self, reported: str) -> None:
        known = self.gate.reported_models
        if len(known) >= REPORTED_MODELS_MAX:
            known.clear()
        known[(self.principal.app_id, self.category, self.named_model or "")] = reported

    def _price(self, usage: Usage, status: int) -> Pending:
        gate = self.gate
        event = self.event(usage, http_status=status)
        pending = gate.meter.prepare(
            self.principal, event, now=self.started_at, holds=self.holds, request_id=self.request_id,
            resolved_as=self.resolved_as,
        )
        if self.request_id is not None and gate.journal is not None:
            gate.journal.answered(self.request_id, event)
        if self.holds:
            LeaseBook.priced(self.holds, pending.cost_total)
        pending.lenient_limits = True  # the provider was called: record it even if a named limit vanished since
        self.pending = pending
        return pending

    def _provisional(self, pending: Pending) -> dict[str, Any]:
        event = pending.event
        app_id = self.principal.app_id
        assert app_id is not None
        states = {}
        failed = event.failed
        leases = self.gate.leases
        for limit_id in self.attribution.limit_ids:
            view = leases.view(app_id, limit_id)
            if failed or view is None:
                states[limit_id] = "failed" if failed else "ok"
            else:
                spent, maximum, threshold = view  # this call's cost is in it already (``LeaseBook.priced``)
                states[limit_id] = state_after(spent, maximum, threshold)
        return build_result(result_values(pending), states)

    def finish(
        self, status: int, usage: Usage | None, payload: Payload | None, *, first_byte_ms: int | None = None
    ) -> None:
        """Queue the call's record (settling its holds), unless that happened already."""
        if self.recorded:
            return
        if self.pending is None or (usage is not None and usage.units and not self.pending.event.units):
            self._price(usage or Usage(units={}), status)
        pending = self.pending
        assert pending is not None
        pending.event.end_to_end_latency_ms = int((time.perf_counter() - self.t0) * 1000)
        pending.event.time_to_first_token_ms = first_byte_ms
        if payload is not None and self.store:
            pending.event.payload = payload
            pending.store_payload = True
        self.recorded = True
        self.gate.meter.record_later(pending)
