"""``ReportService.spend``: one report, answered from the rollup tables with one or two aggregate queries.

Every query is bounded by ``app_id IN scope`` and by ``bucket`` in ``[start, end)``; both lead the rollups'
primary keys, so a report costs a range scan of the rollup rows in its window, whatever the size of the request
log (see ``benchmarks/bench_reports.py``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import groupby, repeat
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    BigInteger, String, Table, and_, case, cast, false, func, literal_column, not_, or_, select, text, union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from ..store.bulk import driver
from ..store.engine import Database
from ..store.sums import wide_sum
from ..store.types import MAX_INT64, MONEY_MAX
from ..store.tables import (
    ROLLUP_LATENCY_COLUMNS,
    limits,
    rollup_daily,
    rollup_hourly,
    rollup_limit_hourly,
    rollup_property_hourly,
    rollups_for,
)
from .buckets import bucket_label, check_zone, label_start, local_hour, whole_days
from .buckets import bucket_starts as local_starts
from .latency import LATENCY_MEASURES, percentiles
from .query import HOURLY_DIMENSIONS, PROPERTY_PREFIX, ReportQuery
from .scope import Scope, narrow

MONEY_MEASURES = frozenset({"cost_input", "cost_output", "cost_total"})
REPORT_WORK_MEM = "64MB"
UNITS = 10**10  # a ``Money`` column's 1e-10 USD
BIG = "x_"  # PostgreSQL: the label prefix of a money sum too large for ``UNITS`` in an int8 (else NULL)


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

    def as_dict(self, *, decimals: bool = False) -> dict[str, Any]:
        """The report as the API answers it, money as floats; ``decimals``: money left ``Decimal``, for an encoder that
        writes a Decimal as the same float (``jsonio.dumps``), without a copy of every row."""
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
            "rows": self.rows if decimals else [_wire(r) for r in self.rows],
            "totals": self.totals if decimals else _wire(self.totals),
        }


def _wire(row: dict[str, Any]) -> dict[str, Any]:
    """Money as JSON numbers (floats on the wire); CSV keeps the exact decimals."""
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in row.items()}


def _zero(measures: tuple[str, ...]) -> dict[str, Any]:
    return {m: (Decimal(0) if m in MONEY_MEASURES else None if m in LATENCY_MEASURES else 0) for m in measures}


def _measure(name: str, value: Any) -> Any:
    if name in MONEY_MEASURES:
        return value if value is not None else Decimal(0)
    return int(value or 0)


def _histogram(raw: Any, prefix: str) -> list[int]:
    return [int(raw[f"{prefix}{c}"] or 0) for c in ROLLUP_LATENCY_COLUMNS]


def _numbers(query: ReportQuery, raw: Any, prefix: str) -> dict[str, Any]:
    """A row's (``m_``) or the ranked totals' (``t_``) measures; percentiles from the summed histogram."""
    out = {m: _measure(m, raw[f"{prefix}{m}"]) for m in query.measures if m not in LATENCY_MEASURES}
    if query.latency:
        out.update(percentiles(_histogram(raw, prefix)))
    return out


class ReportService:
    """Reports from the rollups. ``daily=False`` reads the hourly rollup alone, ``narrow=False`` the full rollups
    alone (tests compare them)."""

    def __init__(self, db: Database, *, daily: bool = True, narrow: bool = True) -> None:
        self._db = db
        self._daily = daily
        self._narrow = narrow

    def _rollups(self, query: ReportQuery) -> tuple[Table, Table]:
        """The (hourly, daily) rollups a report of the first eight dimensions reads: the narrowest pair that has
        every dimension it groups or filters by (``store.tables.NarrowRollup``), else the full pair."""
        if self._narrow:
            return rollups_for({HOURLY_DIMENSIONS[d] for d in (*query.group_by, *query.filters) if d != "application"})
        return rollup_hourly, rollup_daily

    async def spend(self, scope: Scope, query: ReportQuery, *, exact: bool = True) -> Report:
        """Run ``query`` over the applications of ``scope``. Not ``exact``: the rows' money is the float the JSON
        answer carries (the totals stay ``Decimal``), which PostgreSQL's rows give without decoding a ``NUMERIC``."""
        check_zone(query.tz)
        if "application" in query.filters:
            scope = narrow(scope, query.filters["application"])
        report = Report(query=query, scope=scope, totals=_zero(query.measures))
        if not scope.app_ids:
            return report
        table, dims, wheres = await self._source(scope, query)
        direct = self._direct(query)
        statement = (self._rows_statement if direct else self._statement)(table, dims, wheres, query)
        async with self._db.read() as conn:
            if self._db.dialect == "postgresql":
                # The planner cannot know how few groups a report has and would sort on disk with the default
                # 4 MB: hash aggregates in memory are faster. JIT compiling costs more than it saves at this size.
                # (This transaction only.)
                await conn.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))
                await conn.execute(text("SET LOCAL jit = off"))
                keys, result = await _driver_rows(conn, statement)
            else:
                answer = await conn.execute(statement)
                keys, result = list(answer.keys()), answer.all()
            limit_names = await self._limit_names(conn, query, keys, result)
        ranked = query.top is not None and bool(dims)
        units = self._db.dialect == "postgresql" and not ranked
        reader = _RowReader(query, scope, keys, limit_names, bucket_starts(query), exact=exact, units=units)
        with _collector_paused():
            report.rows = reader.rows(result, merge=direct)
        if ranked:
            if result:
                report.totals = _numbers(query, dict(zip(keys, result[0], strict=True)), "t_")
        else:
            report.totals.update(reader.totals())
        return report

    def _statement(self, table: Any, dims: list[ColumnElement[Any]], wheres: list[Any], query: ReportQuery) -> Any:
        """One statement, one scan of the rollup rows in range.

        Buckets: ``hour`` groups by the rollup's own UTC hour; ``day``/``month`` by the local bucket an hour falls
        in (``bucket_label``: on PostgreSQL a binary search in the bucket boundaries, no time-zone arithmetic per
        row). With ``top``, the groups are ranked by cost in the same statement and the totals of everything ride
        along as window sums.
        """
        ms = query.summed
        names = [f"d{i}" for i in range(len(dims))]
        sqlite = self._db.is_sqlite  # sums that pass int64 (``store.sums``)
        top_groups = query.top is not None and bool(dims)
        units = not sqlite and not top_groups
        bucketed = query.bucket != "total"
        label: ColumnElement[Any] | None = None
        if query.bucket == "hour":
            label = table.c.bucket
        elif bucketed:
            label = bucket_label(self._db.dialect, table.c.bucket, query.bucket, query.tz, query.start, query.end)
        stage = select(
            *([label.label("b")] if label is not None else []),
            *(d.label(n) for d, n in zip(dims, names, strict=True)),
            *(
                column
                for m in ms
                for column in (
                    _in_units(wide_sum(table.c[m], sqlite), m) if units and m in MONEY_MEASURES
                    else [wide_sum(table.c[m], sqlite).label(f"m_{m}")]
                )
            ),
        ).where(*wheres)
        keys: list[Any] = ([literal_column("b")] if label is not None else []) + list(dims)
        if keys:
            stage = stage.group_by(*keys)
        if not top_groups:
            agg: Any = stage.subquery("agg")
            final = select(agg)
        else:
            cte = stage.cte("agg")
            ranked = (
                select(
                    *(cte.c[n] for n in names),
                    func.row_number()
                    .over(order_by=[wide_sum(cte.c.m_cost_total, sqlite).desc(), *(cte.c[n] for n in names)])
                    .label("rk"),
                )
                .group_by(*(cte.c[n] for n in names))
                .subquery("ranked")
            )
            agg = select(cte, *(wide_sum(cte.c[f"m_{m}"], sqlite, window=True).label(f"t_{m}") for m in ms))
            agg = agg.subquery("w")
            final = (
                select(agg)
                .join(ranked, and_(*(agg.c[n] == ranked.c[n] for n in names)))
                .where(ranked.c.rk <= query.top)
            )
        order = [agg.c.b] if bucketed else []
        if units:  # the sums too large for int8 units first (the costs are never negative)
            order.append(agg.c[BIG + "cost_total"].desc().nulls_last())
        # Ties by the dimensions' values in code point order, as ``_RowReader._merged`` orders them (and SQLite does)
        ties = [
            agg.c[n].collate("C") if not sqlite and isinstance(d.type, String) else agg.c[n]
            for n, d in zip(names, dims, strict=True)
        ]
        return final.order_by(*order, agg.c.m_cost_total.desc(), *ties)

    def _direct(self, query: ReportQuery) -> bool:
        """Whether the report's groups are its rollup's own rows (or the rows of a few applications added up): grouped
        by every dimension the rollup is keyed by, and by hour (the hourly rollup's grain) or by day where the daily
        rollup answers all of the range but at most two days of edges (a zone off UTC cuts every UTC day, so its
        days come from the hours, 24 rows a group: those are aggregated in SQL).

        A month by hour by user is then 140,000 rows read in order, where aggregating them in SQL (a hash of 140,000
        groups of one row, then a sort) took 1.1 s of PostgreSQL's time; a year by day by user 73,000 (0.6 s of 0.7)."""
        if query.top is not None or query.source != "hourly" or query.bucket not in ("hour", "day"):
            return False
        hourly, _daily = self._rollups(query)
        keys = {c.name for c in hourly.primary_key.columns} - {"bucket", "app_id"}
        if not keys <= {HOURLY_DIMENSIONS[d] for d in query.group_by}:
            return False
        if not keys and "application" not in query.group_by:
            return False  # every application's row is in every group: SQL adds them up
        if query.bucket == "hour":
            return True
        if not self._daily:
            return False
        days = sum((last - first for first, last in whole_days("day", query.tz, query.start, query.end)), timedelta())
        return query.end - query.start - days <= 2 * timedelta(days=1)

    def _rows_statement(
        self, table: Any, dims: list[ColumnElement[Any]], wheres: list[Any], query: ReportQuery
    ) -> Any:
        """The rollup's rows themselves (``_direct``): no aggregate in SQL, in the order of the aggregate's rows; the
        report adds up the rows of one group from several applications (``_RowReader._merged``). On PostgreSQL the money
        is read as int8 counts of 1e-10 USD (a stored ``Money`` value always fits in one)."""
        sqlite = self._db.is_sqlite
        money = [m for m in query.summed if m in MONEY_MEASURES]
        columns = {
            m: table.c[m] if sqlite or m not in money else cast(table.c[m] * literal_column(str(UNITS)), BigInteger)
            for m in query.summed
        }
        ties = [d.collate("C") if not sqlite and isinstance(d.type, String) else d for d in dims]
        label = (
            table.c.bucket if query.bucket == "hour"
            else bucket_label(self._db.dialect, table.c.bucket, query.bucket, query.tz, query.start, query.end)
        )
        return (
            select(
                label.label("b"),
                *(d.label(f"d{i}") for i, d in enumerate(dims)),
                *(column.label(f"m_{m}") for m, column in columns.items()),
            )
            .where(*wheres)
            .order_by(literal_column("b"), columns["cost_total"].desc(), *ties)
        )

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
    async def _source(self, scope: Scope, query: ReportQuery) -> tuple[Any, list[ColumnElement[Any]], list[Any]]:
        """What the report's statement reads: a rollup table, or the daily and hourly rollups' rows together (as
        ``bucket``, ``d0``...``dn``, the measures), with its dimensions and conditions."""
        source = query.source
        hourly, daily = self._rollups(query) if source == "hourly" else (rollup_hourly, rollup_daily)
        if source == "hourly" and self._daily and query.bucket != "hour":
            days = whole_days(query.bucket, query.tz, query.start, query.end)
            if days:
                return await self._days_and_hours(scope, query, days, hourly, daily)
        table = {"hourly": hourly, "limit": rollup_limit_hourly, "property": rollup_property_hourly}[source]
        return (table, *await self._filtered(table, scope, query, [(query.start, query.end)]))

    async def _days_and_hours(
        self, scope: Scope, query: ReportQuery, days: list[tuple[datetime, datetime]], hourly: Table, daily: Table
    ) -> tuple[Any, list[ColumnElement[Any]], list[Any]]:
        """The daily rollup's rows for ``days`` (each inside one of the report's buckets) and the hourly rollup's for
        the rest of the range, as one set of rows: a day's row is the sum of its hours (``store.tables``)."""
        hours = []
        at = query.start
        for first, last in days:
            if at < first:
                hours.append((at, first))
            at = last
        if at < query.end:
            hours.append((at, query.end))
        parts = []
        for table, runs in ((daily, days), (hourly, hours)):
            if runs:
                dims, wheres = await self._filtered(table, scope, query, runs)
                parts.append(
                    select(
                        table.c.bucket,
                        *(d.label(f"d{i}") for i, d in enumerate(dims)),
                        *(table.c[m] for m in query.summed),
                    ).where(*wheres)
                )
        rows = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("rows")
        return rows, [rows.c[f"d{i}"] for i in range(len(query.group_by))], []

    async def _filtered(
        self, table: Table, scope: Scope, query: ReportQuery, runs: list[tuple[datetime, datetime]]
    ) -> tuple[list[ColumnElement[Any]], list[Any]]:
        """The report's dimensions as ``table``'s columns, and its conditions: the scope, the filters, and ``bucket``
        in one of the ``runs`` of the range."""
        source = query.source
        in_runs = [and_(table.c.bucket >= first, table.c.bucket < last) for first, last in runs]
        wheres: list[Any] = [table.c.app_id.in_(scope.app_ids), in_runs[0] if len(in_runs) == 1 else or_(*in_runs)]
        columns: dict[str, ColumnElement[Any]] = {"application": table.c.app_id}
        if source == "hourly":  # the full rollups or a narrow pair (``_rollups``: every dimension the report names)
            columns.update({dim: table.c[col] for dim, col in HOURLY_DIMENSIONS.items() if col in table.c})
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
        return [columns[d] for d in query.group_by], wheres

    async def _limit_pks(self, scope: Scope, limit_ids: tuple[str, ...]) -> list[int]:
        query = select(limits.c.id).where(limits.c.app_id.in_(scope.app_ids), limits.c.limit_id.in_(list(limit_ids)))
        async with self._db.read() as conn:
            return [r[0] for r in (await conn.execute(query)).all()]

    async def _limit_names(
        self, conn: Any, query: ReportQuery, keys: list[str], rows: Sequence[Any]
    ) -> dict[int, tuple[str, str]]:
        if "limit" not in query.group_by:
            return {}
        at = keys.index(f"d{query.group_by.index('limit')}")
        pks = sorted({int(r[at]) for r in rows})
        found: dict[int, tuple[str, str]] = {}
        for chunk in _chunks(pks, 500):
            stmt = select(limits.c.id, limits.c.limit_id, limits.c.name).where(limits.c.id.in_(chunk))
            for r in (await conn.execute(stmt)).all():
                found[r.id] = (r.limit_id, r.name)
        return found


_COUNT, _MONEY, _UNITS = range(3)


class _RowReader:
    """The statement's rows as report rows, and their totals: column positions, conversions and bucket labels are
    worked out once per report, not per row (a year by day by user is 73,000 rows)."""

    def __init__(
        self, query: ReportQuery, scope: Scope, keys: list[str], limit_names: dict[int, tuple[str, str]],
        bounds: list[datetime], *, exact: bool = True, units: bool = False,
    ) -> None:
        at = {key: i for i, key in enumerate(keys)}
        self.query, self.scope, self.limit_names, self.bounds = query, scope, limit_names, bounds
        self.requests_at = at["m_requests"]
        self.bucket_at = at["b"] if query.bucket != "total" else None
        self.labels: dict[Any, str] = {}
        self.dims = [(dim, at[f"d{i}"]) for i, dim in enumerate(query.group_by)]
        # (measure, its column, what it is: COUNT, MONEY (a Decimal: SQLite, a ranked report) or UNITS (PostgreSQL: an
        # int8 count of 1e-10 USD, or NULL and the exact NUMERIC in the ``x_`` column when too large for it))
        self.measures = [
            (m, at[f"m_{m}"], _COUNT if m not in MONEY_MEASURES else _UNITS if units else _MONEY, at.get(f"{BIG}{m}"))
            for m in query.measures if m not in LATENCY_MEASURES
        ]
        self.sums: list[Any] = [Decimal(0) if kind == _MONEY else 0 for _m, _i, kind, _b in self.measures]
        self.big_sums: dict[int, Decimal] = {}  # the ``x_`` values of a UNITS measure, by position
        self.exact = exact
        self.histogram_at = [at[f"m_{c}"] for c in ROLLUP_LATENCY_COLUMNS] if query.latency else []
        self.histogram = [0] * len(self.histogram_at)
        self.ranked = query.top is not None and bool(query.group_by)

    def rows(self, result: Sequence[Any], *, merge: bool = False) -> list[dict[str, Any]]:
        """The report rows of the statement's rows, column by column (each conversion one comprehension over a column,
        each total one ``sum``); the aggregate's row over no rollup rows (no group: requests NULL) is left out.
        ``merge``: the statement's rows are the rollup's (``_direct``), and a group may have several (``_merged``)."""
        columns = list(zip(*result))
        if columns and None in columns[self.requests_at]:
            result = [raw for raw in result if raw[self.requests_at] is not None]
            columns = list(zip(*result))
        if merge and columns:
            keys = zip(columns[self.bucket_at or 0], *(columns[i] for _dim, i in self.dims))
            if len(set(keys)) < len(result):  # a group under several applications
                columns = list(zip(*self._merged(result)))
        if not columns:
            return []
        names: list[str] = []
        values: list[Sequence[Any]] = []
        if self.bucket_at is not None:
            labels = {value: self._label(value) for value in set(columns[self.bucket_at])}
            names.append("bucket")
            values.append([labels[v] for v in columns[self.bucket_at]])
        for dim, i in self.dims:
            values_of = columns[i]
            names.append(dim)
            if dim == "application":
                values.append([str(v) for v in values_of])
                names.append("application_name")
                values.append([self.scope.name(int(v)) for v in values_of])
            elif dim == "limit":
                found = [self.limit_names.get(int(v), (str(v), "")) for v in values_of]
                values.append([limit_id for limit_id, _name in found])
                names.append("limit_name")
                values.append([name for _limit_id, name in found])
            elif dim == "use_case_version":
                values.append([int(v) or None for v in values_of])
            else:
                values.append([v if v != "" else None for v in values_of])
        for n, (m, i, kind, big_at) in enumerate(self.measures):
            column: Sequence[Any] = columns[i]
            names.append(m)
            if kind == _COUNT:
                column = [int(v or 0) for v in column] if None in column else column
            elif kind == _MONEY:
                column = [v if v is not None else Decimal(0) for v in column] if None in column else column
            elif None not in column:  # units: int / int is the correctly rounded float, as float(Decimal) is
                self.sums[n] += sum(column)
                values.append(
                    [v / UNITS for v in column] if not self.exact else [Decimal(v).scaleb(-10) for v in column]
                )
                continue
            else:
                values.append(self._units_or_big(n, column, columns[big_at] if big_at is not None else None))
                continue
            self.sums[n] += sum(column)
            values.append(column)
        rows = list(map(dict, map(zip, repeat(names), zip(*values))))  # at C speed: 0.2 s less for 140,000 rows
        if self.histogram_at:
            histograms = list(zip(*(columns[i] for i in self.histogram_at)))
            for row, counts in zip(rows, histograms, strict=True):
                row.update(percentiles([int(c or 0) for c in counts]))
            if not self.ranked:
                self.histogram = [
                    a + sum(int(c or 0) for c in columns[i])
                    for a, i in zip(self.histogram, self.histogram_at, strict=True)
                ]
        return rows

    def _units_or_big(self, n: int, column: Sequence[Any], big: Sequence[Any] | None) -> list[Any]:
        """A column of units where some sums were too large for them (NULL there, and the exact value in ``big``)."""
        out: list[Any] = []
        for at, value in enumerate(column):
            if value is not None:
                self.sums[n] += value
                out.append(value / UNITS if not self.exact else Decimal(value).scaleb(-10))
                continue
            exact = big[at] if big is not None and big[at] is not None else Decimal(0)
            self.big_sums[n] = self.big_sums.get(n, Decimal(0)) + exact
            out.append(exact if self.exact else float(exact))
        return out

    def _merged(self, result: Sequence[Any]) -> list[Any]:
        """``_direct``: the rollup's rows as the groups' rows, the rows of a group from several applications (or days'
        edge hours) added up (counts saturated at int64's top, as ``store.sums.wide_sum`` does), in the aggregate
        statement's order: by bucket (as the rows come), then cost, then the dimensions' values; only the buckets
        where rows were added up are ordered again."""
        dims = [i for _dim, i in self.dims]
        sums = [(i, kind == _COUNT) for _m, i, kind, _b in self.measures] + [(i, True) for i in self.histogram_at]
        cost_at = next(i for m, i, _k, _b in self.measures if m == "cost_total")
        bucket_at = self.bucket_at or 0
        out: list[Any] = []
        for _bucket, rows in groupby(result, key=itemgetter(bucket_at)):
            groups: dict[tuple[Any, ...], Any] = {}
            added_up = False
            for raw in rows:
                key = tuple(raw[i] for i in dims)
                found = groups.get(key)
                if found is None:
                    groups[key] = raw
                    continue
                added = list(found)
                for i, count in sums:
                    total = (added[i] or 0) + (raw[i] or 0)
                    added[i] = min(total, MAX_INT64) if count else total
                groups[key] = added
                added_up = True
            if added_up:
                out.extend(sorted(groups.values(), key=lambda r: (-(r[cost_at] or 0), *(r[i] for i in dims))))
            else:
                out.extend(groups.values())
        return out

    def _label(self, value: Any) -> str:
        """A bucket's start as ISO text in the report's zone (the same few hundred values: remembered)."""
        known = self.labels.get(value)
        if known is None:
            query = self.query
            start = local_hour(value, query.tz) if query.bucket == "hour" else label_start(value, query.tz, self.bounds)
            known = self.labels[value] = start.isoformat()
        return known

    def totals(self) -> dict[str, Any]:
        """The totals of the rows read (not ranked: every group is a row)."""
        out: dict[str, Any] = {}
        for n, (m, _i, kind, _b) in enumerate(self.measures):
            total = self.sums[n]
            out[m] = Decimal(total).scaleb(-10) + self.big_sums.get(n, Decimal(0)) if kind == _UNITS else total
        if self.histogram_at:
            out.update(percentiles(self.histogram))
        return out


async def _driver_rows(conn: Any, statement: Any) -> tuple[list[str], Sequence[Any]]:
    """PostgreSQL: ``statement``'s column names and rows as the driver decodes them, without SQLAlchemy's rows or its
    processing of each value (a month by hour by user is 140,000 rows of 12 values: 0.8 s of it). They need none:
    the sums of money are ``NUMERIC`` of scale 10 already (``Money`` would quantize them to it), the counts int8
    (``wide_sum``), the hours aware datetimes in UTC."""
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    parameters = [compiled.params[name] for name in compiled.positiontup or ()]
    prepared = await (await driver(conn)).prepare(str(compiled))
    return [attribute.name for attribute in prepared.get_attributes()], await prepared.fetch(*parameters)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a report's rows are built (synchronous code: no other task runs meanwhile).
    Each of a month by hour by user's 140,000 row dicts is a new tracked container, and the collector ran again and
    again over all of them: 0.2 s of the 0.55 s it took to build them. The dicts hold no cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _in_units(total: Any, measure: str) -> list[Any]:
    """PostgreSQL: a money sum as an int8 count of 1e-10 USD (``m_``), which the driver decodes many times faster than
    the ``NUMERIC`` (0.2 s of a month by hour by user), and, only where it is beyond ``MONEY_MAX`` (so no int8 holds
    it), as the exact ``NUMERIC`` (``x_``). The sums are of scale 10: the product is a whole number."""
    top: Any = literal_column(f"{MONEY_MAX:f}")
    fits = total.between(-top, top)
    return [
        cast(case((fits, total * literal_column(str(UNITS)))), BigInteger).label(f"m_{measure}"),
        case((not_(fits), total)).label(f"{BIG}{measure}"),
    ]


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def bucket_starts(query: ReportQuery) -> list[datetime]:
    """Every bucket start of the range in the report's zone (charts draw the empty ones as zero)."""
    zone = check_zone(query.tz)
    if query.bucket == "total":
        return []
    if query.bucket == "hour":
        hours = int((query.end - query.start) / timedelta(hours=1))
        return [(query.start + timedelta(hours=i)).astimezone(zone) for i in range(hours)]
    return local_starts(query.bucket, query.tz, query.start, query.end)
