"""The filter bar every dashboard page shares: range, application, dimensions, bucket, and the browser's zone.

Filters travel in the query string (GET forms, so a view can be bookmarked and shared); the zone comes from the
``payi_tz`` cookie that ``static/app.js`` sets to the browser's zone (``Intl.DateTimeFormat``), or ``tz=``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import unquote, urlencode

from fastapi import Request

from ..errors import ApiError
from ..reports.buckets import check_zone, hour_ceil
from ..reports.query import ReportQuery, build_query
from ..store.requestlog import LogQuery
from ..reports.service import Report, bucket_starts
from .session import TZ_COOKIE

RANGES = {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days",
          "365d": "Last 12 months", "custom": "Custom"}
BUCKET_CHOICES = ("auto", "hour", "day", "month")
# Page filter -> report dimension.
DIMENSION_FILTERS = {"category": "category", "resource": "resource", "use_case": "use_case", "user": "user",
                     "account": "account"}


def _date(value: str) -> str:
    """A ``YYYY-MM-DD`` between 1970 and 2199, or '' (the range's default)."""
    try:
        day = datetime.strptime(value[:10], "%Y-%m-%d")
    except ValueError:
        return ""
    return value[:10] if 1970 <= day.year < 2200 else ""


def zone_of(request: Request) -> str:
    for candidate in (request.query_params.get("tz"), unquote(request.cookies.get(TZ_COOKIE, ""))):
        if candidate:
            try:
                check_zone(candidate)
                return candidate
            except ApiError:
                continue
    return "UTC"


@dataclass(frozen=True)
class PageFilters:
    tz: str = "UTC"
    range: str = "7d"
    start_date: str = ""
    end_date: str = ""
    app: str = ""
    bucket: str = "auto"
    dims: Mapping[str, str] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_request(cls, request: Request, default_range: str = "7d") -> PageFilters:
        q = request.query_params
        rng = q.get("range", default_range)
        return cls(
            tz=zone_of(request),
            range=rng if rng in RANGES else default_range,
            start_date=_date(q.get("start_date", "")),
            end_date=_date(q.get("end_date", "")),
            app=q.get("app", "")[:20],
            bucket=q.get("bucket", "auto") if q.get("bucket") in BUCKET_CHOICES else "auto",
            dims={k: q[k][:300] for k in DIMENSION_FILTERS if q.get(k)},
        )

    # --- the time window ---------------------------------------------------------------------------
    def window(self) -> tuple[datetime, datetime]:
        zone = check_zone(self.tz)
        local_now = self.now.astimezone(zone)
        midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
        if self.range == "custom":
            start = datetime.fromisoformat(self.start_date) if self.start_date else midnight - timedelta(days=6)
            end = datetime.fromisoformat(self.end_date) if self.end_date else midnight
            return start.replace(tzinfo=zone), (end + timedelta(days=1)).replace(tzinfo=zone)
        if self.range == "24h":
            end_at = hour_ceil(self.now)
            return end_at - timedelta(hours=24), end_at
        days = int(self.range.rstrip("d"))
        start = midnight - timedelta(days=days - 1)
        return start.replace(tzinfo=zone), (midnight + timedelta(days=1)).replace(tzinfo=zone)

    def effective_bucket(self) -> str:
        if self.bucket != "auto":
            return self.bucket
        start, end = self.window()
        span = end - start
        if span <= timedelta(days=2):
            return "hour"
        return "day" if span <= timedelta(days=93) else "month"

    # --- queries -----------------------------------------------------------------------------------
    def report_query(self, group_by: tuple[str, ...] = (), bucket: str | None = None, top: int | None = None,
                     extra: Mapping[str, tuple[str, ...]] | None = None, latency: bool = False) -> ReportQuery:
        start, end = self.window()
        filters = self._filters()
        for name, values in (extra or {}).items():
            filters[name] = list(values)
        return build_query(start=start, end=end, bucket=bucket or self.effective_bucket(), tz=self.tz,
                           group_by=group_by, filters=filters, top=top, now=self.now, latency=latency)

    def _filters(self) -> dict[str, list[str]]:
        filters: dict[str, list[str]] = {DIMENSION_FILTERS[k]: [v] for k, v in self.dims.items()}
        if self.app:
            filters["application"] = [self.app]
        return filters

    def previous_query(self) -> ReportQuery:
        """Totals of the period before this one, as long as the part of this one that has happened: a range that
        ends tomorrow at midnight is compared with the same hours before it, not with a whole day more."""
        start, end = self.window()
        elapsed_end = min(end, hour_ceil(self.now))
        span = elapsed_end - start
        return build_query(start=start - span, end=elapsed_end - span, bucket="total", tz=self.tz,
                           filters=self._filters(), now=self.now)

    def range_label(self) -> str:
        """The range as the filter bar names it (a custom one by its first and last day)."""
        if self.range != "custom":
            return RANGES[self.range]
        start, end = self.window()
        return f"{start:%Y-%m-%d} to {end - timedelta(days=1):%Y-%m-%d}"

    def period_label(self) -> str:
        return "the previous period" if self.range == "custom" else f"the previous {RANGES[self.range][5:].lower()}"

    def log_query(self, failed: bool | None = None) -> LogQuery:
        start, end = self.window()
        return LogQuery(
            start=start.astimezone(UTC), end=end.astimezone(UTC),
            filters={k: (v,) for k, v in self.dims.items()}, failed=failed, newest_first=True,
        )

    # --- links -------------------------------------------------------------------------------------
    def params(self, **overrides: str) -> dict[str, str]:
        out = {"range": self.range, "app": self.app, "bucket": self.bucket, **self.dims}
        if self.range == "custom":
            out.update(start_date=self.start_date, end_date=self.end_date)
        out.update(overrides)
        return {k: v for k, v in out.items() if v and not (k == "bucket" and v == "auto")}

    def qs(self, **overrides: str) -> str:
        return urlencode(self.params(**overrides))

    def with_dim(self, name: str, value: str) -> PageFilters:
        return replace(self, dims={**self.dims, name: value})


def chart_data(report: Report, series_of: str | None = None, max_series: int = 6) -> dict[str, Any]:
    """uPlot-ready data: bucket starts (epoch seconds) and one cost series per group (or one "Spend" series)."""
    starts = bucket_starts(report.query)
    index = {s.isoformat(): i for i, s in enumerate(starts)}
    series: dict[str, list[float]] = {}
    order: list[str] = []
    for row in report.rows:
        key = "Spend" if series_of is None else _label(row, series_of)
        if key not in series:
            if len(order) >= max_series:
                key = "Other"
            if key not in series:
                series[key] = [0.0] * len(starts)
                order.append(key)
        i = index.get(row["bucket"])
        if i is not None:
            series[key][i] += float(row["cost_total"])
    now = datetime.now(UTC)
    begun = [s for s in starts if s <= now]
    return {
        "x": [int(s.timestamp()) for s in starts],
        "series": [{"label": k, "values": series[k]} for k in order],
        "bucket": report.query.bucket,
        # where the last bucket ends (bars fill [start, next start)) and, when it has not ended yet, where the
        # bucket still in progress begins: the chart marks it, so a partial day does not read as a drop
        "end": int(report.query.end.timestamp()),
        "partial_from": int(begun[-1].timestamp()) if begun and report.query.end > now else None,
        "tz": report.query.tz,
    }


def _lines_chart(report: Report, labels: dict[str, str], unit: str, empty: int | None) -> dict[str, Any]:
    """One line per measure (``labels``: measure -> legend) of an ungrouped report, ``empty`` in buckets it lacks."""
    money_chart = chart_data(report)
    index = {s: i for i, s in enumerate(money_chart["x"])}
    series: dict[str, list[Any]] = {name: [empty] * len(index) for name in labels}
    for row in report.rows:
        i = index.get(int(datetime.fromisoformat(row["bucket"]).timestamp()))
        if i is not None:
            for name, values in series.items():
                values[i] = row[name]
    return {**money_chart, "unit": unit, "lines": True,
            "series": [{"label": labels[k], "values": v} for k, v in series.items()]}


def counts_chart(report: Report) -> dict[str, Any]:
    """Requests, failed and blocked per bucket of an ungrouped report (the overview's second chart)."""
    return _lines_chart(report, {"requests": "Requests", "failed": "Failed", "blocked": "Blocked"}, "count", 0)


def latency_chart(report: Report) -> dict[str, Any]:
    """End-to-end latency p50 and p95 per bucket of an ungrouped report with ``latency`` (the overview's third
    chart). A bucket without recorded latencies is a gap, not 0 ms; the legend's figures before any hover are the
    whole range's percentiles (``totals``), not sums."""
    chart = _lines_chart(report, {"latency_p50_ms": "p50", "latency_p95_ms": "p95"}, "ms", None)
    chart["totals"] = [report.totals.get("latency_p50_ms"), report.totals.get("latency_p95_ms")]
    return chart


def _label(row: Mapping[str, Any], dim: str) -> str:
    if dim == "application":
        return str(row.get("application_name") or row.get("application"))
    value = row.get(dim)
    return "(none)" if value in (None, "") else str(value)


def money(value: Any) -> str:
    """The one money format of the dashboard (cards, cells, charts: ``static/app.js`` has its twin): whole cents
    from one cent up (``$1,234.56``, ``$0.49``); below a cent two significant digits (``$0.0049``,
    ``$0.00013``) so that small per-request costs do not read as zero."""
    amount = Decimal(str(value or 0))
    if amount == 0:
        return "$0.00"
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount >= Decimal("0.00995"):  # rounds to at least $0.01
        return f"{sign}${amount.quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f}"
    places = max(2, -amount.adjusted() + 1)  # two significant digits
    return f"{sign}${amount.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP):.{places}f}"


def number(value: Any) -> str:
    return f"{int(value or 0):,}"


def local_time(value: Any, tz: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return str(value.astimezone(check_zone(tz)).strftime("%Y-%m-%d %H:%M:%S"))
