"""``ReportService.spend``: one report, answered from the rollup tables with one or two aggregate queries.

Every query is bounded by ``app_id IN scope`` and by ``bucket`` in ``[start, end)``; both lead the rollups'
primary keys, so a report costs a range scan of the rollup rows in its window, whatever the size of the request
log (see ``benchmarks/bench_reports.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, false, func, literal_column, select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from ..store.engine import Database
from ..store.tables import limits, rollup_hourly, rollup_limit_hourly, rollup_property_hourly
from .buckets import bucket_label, check_zone, label_start, local_hour
from .query import HOURLY_DIMENSIONS, PROPERTY_PREFIX, ReportQuery
from .scope import Scope, narrow

MONEY_MEASURES = frozenset({"cost_input", "cost_output", "cost_total"})


@dataclass
class Report:
    """A report's rows (one per bucket and group, non-empty ones only) and its totals over the whole range."""

    query: ReportQuery
    scope: Scope
    rows: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)

    @property
    def dimension_columns(self) -> list[str]:
        out: list[str] = []
        for dim in self.query.group_by:
            out.append(dim)
            if dim == "application":
                out.append("application_name")
            elif dim == "limit":
                out.append("limit_name")
        return out

    @property
    def columns(self) -> list[str]:
        head = [] if self.query.bucket == "total" else ["bucket"]
        return [*head, *self.dimension_columns, *self.query.measures]

    def as_dict(self) -> dict[str, Any]:
        q = self.query
        return {
            "start": q.start,
            "end": q.end,
            "bucket": q.bucket,
            "timezone": q.tz,
            "group_by": list(q.group_by),
            "filters": {k: list(v) for k, v in q.filters.items()},
            "applications": [str(a) for a in self.scope.app_ids],
            "currency": "USD",
            "measures": list(q.measures),
            "columns": self.columns,
            "rows": [_wire(r) for r in self.rows],
            "totals": _wire(self.totals),
        }


def _wire(row: dict[str, Any]) -> dict[str, Any]:
    """Money as JSON numbers (floats on the wire); CSV keeps the exact decimals."""
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in row.items()}


def _zero(measures: tuple[str, ...]) -> dict[str, Any]:
    return {m: (Decimal(0) if m in MONEY_MEASURES else 0) for m in measures}


def _measure(name: str, value: Any) -> Any:
    if name in MONEY_MEASURES:
        return value if value is not None else Decimal(0)
    return int(value or 0)


class ReportService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def spend(self, scope: Scope, query: ReportQuery) -> Report:
        """Run ``query`` over the applications of ``scope``."""
        check_zone(query.tz)
        if "application" in query.filters:
            scope = narrow(scope, query.filters["application"])
        report = Report(query=query, scope=scope, totals=_zero(query.measures))
        if not scope.app_ids:
            return report
        table, dims, wheres = await self._source(scope, query)
        measures = [func.sum(table.c[m]).label(f"m_{m}") for m in query.measures]
        async with self._db.read() as conn:
            if query.top is not None and dims:
                top = (
                    await conn.execute(
                        select(*dims)
                        .where(*wheres)
                        .group_by(*dims)
                        .order_by(func.sum(table.c.cost_total).desc(), *dims)
                        .limit(query.top)
                    )
                ).all()
                totals = (await conn.execute(select(*measures).where(*wheres))).one()
                report.totals = {m: _measure(m, v) for m, v in zip(query.measures, totals, strict=True)}
                if not top:
                    return report
                keys = [tuple(r) for r in top]
                wheres.append(tuple_(*dims).in_(keys) if len(dims) > 1 else dims[0].in_([k[0] for k in keys]))
            label = self._label(table, query)
            cols: list[ColumnElement[Any]] = [label.label("b")] if label is not None else []
            cols += [d.label(f"d{i}") for i, d in enumerate(dims)]
            stmt = select(*cols, *measures).where(*wheres)
            if cols:
                stmt = stmt.group_by(*(literal_column(c.name) for c in cols))
            order: list[Any] = [literal_column("b")] if label is not None else []
            stmt = stmt.order_by(*order, literal_column("m_cost_total").desc(), *(literal_column(f"d{i}") for i in range(len(dims))))
            result = list((await conn.execute(stmt)).all())
            limit_names = await self._limit_names(conn, query, result, label is not None)
        for raw in result:
            if raw[-len(query.measures)] is None:  # an aggregate without groups over no rows
                continue
            report.rows.append(self._row(query, scope, raw, label is not None, limit_names))
        if query.top is None or not query.group_by:
            for row in report.rows:
                for m in query.measures:
                    report.totals[m] += row[m]
        return report

    async def property_names(self, scope: Scope, start: datetime, end: datetime, limit: int = 200) -> list[str]:
        """The request-property names recorded in the range (for choosing a property to break down by)."""
        if not scope.app_ids:
            return []
        t = rollup_property_hourly
        query = (
            select(t.c.name)
            .where(t.c.app_id.in_(scope.app_ids), t.c.bucket >= start, t.c.bucket < end)
            .group_by(t.c.name)
            .order_by(t.c.name)
            .limit(limit)
        )
        async with self._db.read() as conn:
            return [r[0] for r in (await conn.execute(query)).all()]

    # --- query parts -------------------------------------------------------------------------------
    async def _source(self, scope: Scope, query: ReportQuery) -> tuple[Table, list[ColumnElement[Any]], list[Any]]:
        source = query.source
        table = {"hourly": rollup_hourly, "limit": rollup_limit_hourly, "property": rollup_property_hourly}[source]
        wheres: list[Any] = [
            table.c.app_id.in_(scope.app_ids),
            table.c.bucket >= query.start,
            table.c.bucket < query.end,
        ]
        columns: dict[str, ColumnElement[Any]] = {"application": table.c.app_id}
        if source == "hourly":
            columns.update({dim: table.c[col] for dim, col in HOURLY_DIMENSIONS.items()})
        elif source == "limit":
            columns["limit"] = table.c.limit_pk
        else:
            prop = PROPERTY_PREFIX + (query.property_name or "")
            columns[prop] = table.c.value
            wheres.append(table.c.name == query.property_name)
        for dim, values in query.filters.items():
            if dim == "application":
                continue
            if dim == "limit":
                pks = await self._limit_pks(scope, values)
                wheres.append(table.c.limit_pk.in_(pks) if pks else false())
            elif dim == "use_case_version":
                wheres.append(columns[dim].in_([int(v) if v else 0 for v in values]))
            else:
                wheres.append(columns[dim].in_(list(values)))
        return table, [columns[d] for d in query.group_by], wheres

    def _label(self, table: Table, query: ReportQuery) -> ColumnElement[Any] | None:
        if query.bucket == "total":
            return None
        if query.bucket == "hour":
            return table.c.bucket  # type: ignore[no-any-return]
        return bucket_label(self._db.dialect, table.c.bucket, query.bucket, query.tz, query.start, query.end)

    async def _limit_pks(self, scope: Scope, limit_ids: tuple[str, ...]) -> list[int]:
        query = select(limits.c.id).where(limits.c.app_id.in_(scope.app_ids), limits.c.limit_id.in_(list(limit_ids)))
        async with self._db.read() as conn:
            return [r[0] for r in (await conn.execute(query)).all()]

    async def _limit_names(self, conn: Any, query: ReportQuery, rows: list[Any], bucketed: bool) -> dict[int, tuple[str, str]]:
        if "limit" not in query.group_by:
            return {}
        index = query.group_by.index("limit") + (1 if bucketed else 0)
        pks = sorted({int(r[index]) for r in rows})
        found: dict[int, tuple[str, str]] = {}
        for chunk in _chunks(pks, 500):
            stmt = select(limits.c.id, limits.c.limit_id, limits.c.name).where(limits.c.id.in_(chunk))
            for r in (await conn.execute(stmt)).all():
                found[r.id] = (r.limit_id, r.name)
        return found

    def _row(self, query: ReportQuery, scope: Scope, raw: Any, bucketed: bool, limit_names: dict[int, tuple[str, str]]) -> dict[str, Any]:
        values = list(raw)
        row: dict[str, Any] = {}
        if bucketed:
            value = values.pop(0)
            start = local_hour(value, query.tz) if query.bucket == "hour" else label_start(value, query.tz)
            row["bucket"] = start.isoformat()
        for dim in query.group_by:
            value = values.pop(0)
            if dim == "application":
                row[dim] = str(value)
                row["application_name"] = scope.name(int(value))
            elif dim == "limit":
                limit_id, name = limit_names.get(int(value), (str(value), ""))
                row[dim] = limit_id
                row["limit_name"] = name
            elif dim == "use_case_version":
                row[dim] = int(value) or None
            else:
                row[dim] = value if value != "" else None
        for m in query.measures:
            row[m] = _measure(m, values.pop(0))
        return row


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def bucket_starts(query: ReportQuery) -> list[datetime]:
    """Every bucket start of the range in the report's zone (charts draw the empty ones as zero)."""
    zone = check_zone(query.tz)
    if query.bucket == "total":
        return []
    if query.bucket == "hour":
        out, at = [], query.start
        while at < query.end:
            out.append(at.astimezone(zone))
            at += timedelta(hours=1)
        return out
    local = query.start.astimezone(zone)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    if query.bucket == "month":
        day = day.replace(day=1)
    out = []
    while True:
        start = day.replace(tzinfo=zone)
        if start >= query.end:
            return out
        out.append(start)
        if query.bucket == "day":
            day = (day + timedelta(days=1)).replace(hour=0)
        else:
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
