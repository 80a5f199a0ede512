"""PostgreSQL: the end of a group commit that names limits, in one statement.

Once a batch holds its limits' row locks (``Ledger.lock``) and has read its budget leases' amounts
(``LeaseBook.settle_amounts``), four writes remain: the leases settle, the limits' totals are written back, each
request is linked to the limits it counted against, and the hourly limit rollups grow. Each is a round trip, and
on a busy worker a round trip costs far more than the statement (0.3-1 ms of the worker's CPU, measured). Here the
four are one ``INSERT`` with three data-modifying CTEs, each fed by ``unnest`` of column arrays, so the statement
is the same for any batch and prepared once per connection:

    WITH settle AS (UPDATE limit_reservations ... FROM unnest(ids, used)),
         charge AS (UPDATE limits ... FROM unnest(ids, totals, counts)),
         links AS (INSERT INTO request_limits SELECT ... FROM unnest(requests, limits, states))
    INSERT INTO rollup_limit_hourly SELECT ... FROM unnest(...) ON CONFLICT ... DO UPDATE (saturating sums)

The four touch different tables, and every row they write is locked by this transaction already or belongs to
this process (its lease rows, behind the limit's lock), so running them together changes nothing a concurrent
transaction can see before the commit. SQLite keeps one statement each (its statements do not leave the process).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, column, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.types import TypeEngine

from ..limits.ledger import LimitRow
from ..limits.model import STATES
from ..store.sums import saturating_add
from ..store.tables import limit_reservations, limits, request_limits, rollup_limit_hourly
from ..store.types import Money, UTCDateTime

_COUNTS = tuple(f"count_{state}" for state in (*STATES, "total"))
_TOTALS = ("spent_input", "spent_output", "spent_total", "reserved")


def _unnest(name: str, columns: Sequence[tuple[str, TypeEngine[Any]]]) -> Any:
    """``unnest(:name_col1, :name_col2, ...) AS name(col1, col2, ...)``: one array parameter per column."""
    arrays = (bindparam(f"{name}_{col}", type_=ARRAY(kind)) for col, kind in columns)
    return func.unnest(*arrays).table_valued(*(column(col, kind) for col, kind in columns)).render_derived(name=name)


def _statement() -> Any:
    s = _unnest("s", [("id", BigInteger()), ("used", Money())])
    settle = (
        update(limit_reservations)
        .where(limit_reservations.c.id == s.c.id)
        .values(amount=limit_reservations.c.amount - s.c.used)
        .cte("settle")
    )
    totals = _unnest("l", [("id", BigInteger()), *((n, Money()) for n in _TOTALS), *((n, BigInteger()) for n in _COUNTS)])
    charge = (
        update(limits)
        .where(limits.c.id == totals.c.id)
        .values({n: totals.c[n] for n in (*_TOTALS, *_COUNTS)})
        .cte("charge")
    )
    k = _unnest("k", [("request_id", BigInteger()), ("limit_pk", BigInteger()), ("state", String())])
    links = (
        insert(request_limits)
        .from_select(["request_id", "limit_pk", "state"], select(k.c.request_id, k.c.limit_pk, k.c.state))
        .cte("links")
    )
    r = _unnest(
        "r",
        [("bucket", UTCDateTime()), ("app_id", BigInteger()), ("limit_pk", BigInteger()), ("requests", BigInteger()),
         ("cost_total", Money())],
    )
    rollup = pg_insert(rollup_limit_hourly).from_select(
        ["bucket", "app_id", "limit_pk", "requests", "cost_total"],
        select(r.c.bucket, r.c.app_id, r.c.limit_pk, r.c.requests, r.c.cost_total),
    )
    rollup = rollup.on_conflict_do_update(
        index_elements=["bucket", "app_id", "limit_pk"],
        set_={n: saturating_add(rollup_limit_hourly.c[n], rollup.excluded[n], False) for n in ("requests", "cost_total")},
    )
    return rollup.add_cte(settle, charge, links)


class LimitTail:
    """The statement, built once per process."""

    def __init__(self) -> None:
        self.statement = _statement()

    async def run(
        self,
        conn: Any,
        used: Mapping[int, Decimal],
        rows: Sequence[LimitRow],
        links: Sequence[Mapping[str, Any]],
        rollups: Mapping[tuple[Any, ...], list[Any]],
    ) -> None:
        """Settle ``used`` ({lease id: amount}), write ``rows``' totals, insert ``links`` and add ``rollups``
        ({(bucket, app_id, limit pk): [requests, cost]}). Keys in sorted order: concurrent transactions take row
        locks in the same order."""
        if not (used or rows or links or rollups):
            return
        params: dict[str, Any] = {"s_id": sorted(used), "s_used": [used[i] for i in sorted(used)]}
        ordered = sorted(rows, key=lambda row: row.pk)
        params["l_id"] = [row.pk for row in ordered]
        params.update({f"l_{n}": [getattr(row, n) for row in ordered] for n in _TOTALS})
        params.update({f"l_{n}": [row.counts[n.removeprefix("count_")] for row in ordered] for n in _COUNTS})
        params.update({f"k_{n}": [link[n] for link in links] for n in ("request_id", "limit_pk", "state")})
        keys = sorted(rollups)
        params.update(
            r_bucket=[k[0] for k in keys], r_app_id=[k[1] for k in keys], r_limit_pk=[k[2] for k in keys],
            r_requests=[rollups[k][0] for k in keys], r_cost_total=[rollups[k][1] for k in keys],
        )
        await conn.execute(self.statement, params)
