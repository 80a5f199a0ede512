"""What a report asks for, and how its parameters are read (the same for the API, the dashboard and the CLI).

Dimensions (group by any, filter on any)::

    application  category  resource  use_case  use_case_version  use_case_step  user  account
    limit        property:<name>

The first eight live in ``rollup_hourly`` together and combine freely. ``limit`` is read from
``rollup_limit_hourly`` and ``property:<name>`` from ``rollup_property_hourly``: each combines with
``application`` only (the rollups do not cross them with the other dimensions), and those reports carry request
counts and total cost only.

``latency`` adds the end-to-end latency percentiles p50 and p95 (``reports.latency``) to a report of the first eight:
its query then also sums the rollups' latency histograms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from ..errors import api_error
from ..store.tables import DIMENSION_COLUMNS, ROLLUP_HOURLY_MEASURES, ROLLUP_LATENCY_COLUMNS
from .buckets import check_zone, hour_ceil, hour_floor
from .latency import LATENCY_MEASURES

Bucket = Literal["hour", "day", "month", "total"]
BUCKETS: tuple[Bucket, ...] = ("hour", "day", "month", "total")

# Dimension name -> rollup_hourly column.
HOURLY_DIMENSIONS: dict[str, str] = {"application": "app_id", **DIMENSION_COLUMNS}
DIMENSIONS = (*HOURLY_DIMENSIONS, "limit", "property")
PROPERTY_PREFIX = "property:"

HOURLY_MEASURES = tuple(m for m in ROLLUP_HOURLY_MEASURES if m not in ROLLUP_LATENCY_COLUMNS)
NARROW_MEASURES = ("requests", "cost_total")

MAX_TOP = 10_000
MAX_HOURLY_RANGE = timedelta(days=366)
MAX_RANGE = timedelta(days=366 * 20)
DEFAULT_RANGE = timedelta(days=30)
# Dates outside this window are refused (400) rather than overflowing date arithmetic.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ReportQuery:
    """A report: ``[start, end)`` in whole UTC hours, bucketed in ``tz``, grouped and filtered by dimensions.

    ``filters`` maps a dimension (``property:<name>`` for a property) to the values it may take; an empty string
    matches "not given" (no user, no use case ...). ``top`` keeps the ``top`` groups with the highest cost.
    ``latency`` adds the latency percentiles (hourly rollup only).
    """

    start: datetime
    end: datetime
    bucket: Bucket = "day"
    tz: str = "UTC"
    group_by: tuple[str, ...] = ()
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    top: int | None = None
    latency: bool = False

    @property
    def source(self) -> str:
        """``hourly``, ``limit`` or ``property``: the rollup table that can answer this report."""
        names = set(self.group_by) | set(self.filters)
        if "limit" in names:
            return "limit"
        if any(n.startswith(PROPERTY_PREFIX) for n in names):
            return "property"
        return "hourly"

    @property
    def property_name(self) -> str | None:
        for name in (*self.group_by, *self.filters):
            if name.startswith(PROPERTY_PREFIX):
                return name[len(PROPERTY_PREFIX) :]
        return None

    @property
    def measures(self) -> tuple[str, ...]:
        """The report's columns of numbers."""
        if self.source != "hourly":
            return NARROW_MEASURES
        return (*HOURLY_MEASURES, *LATENCY_MEASURES) if self.latency else HOURLY_MEASURES

    @property
    def summed(self) -> tuple[str, ...]:
        """The rollup columns its query sums (the percentiles are computed from the summed histograms)."""
        if self.source == "hourly" and self.latency:
            return (*HOURLY_MEASURES, *ROLLUP_LATENCY_COLUMNS)
        return self.measures


def _dimension(name: str) -> str:
    name = name.strip()
    if name.startswith(PROPERTY_PREFIX):
        prop = name[len(PROPERTY_PREFIX) :]
        if not prop or len(prop) > 200:
            raise api_error("invalid_dimension", "property")
        return PROPERTY_PREFIX + prop
    if name not in HOURLY_DIMENSIONS and name != "limit":
        raise api_error("invalid_dimension", dimensions=', '.join(DIMENSIONS))
    return name


def split_list(values: Iterable[str]) -> list[str]:
    """Repeated parameters and comma-separated lists are the same: ``a,b`` == ``a`` + ``b``."""
    out: list[str] = []
    for value in values:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def _validate(query: ReportQuery) -> ReportQuery:
    names = set(query.group_by) | set(query.filters)
    props = {n for n in names if n.startswith(PROPERTY_PREFIX)}
    if len(props) > 1:
        raise api_error("unsupported_dimensions", "properties")
    narrow = [n for n in names if n == "limit" or n.startswith(PROPERTY_PREFIX)]
    if narrow:
        others = sorted(n for n in names if n not in narrow and n != "application")
        if others or ("limit" in names and props):
            raise api_error("unsupported_dimensions", others=', '.join(others) or 'each other')
    if query.latency and narrow:
        raise api_error("unsupported_dimensions", "latency")
    if len(query.group_by) != len(set(query.group_by)):
        raise api_error("invalid_dimension", "twice")
    if query.end <= query.start:
        raise api_error("invalid_range")
    span = query.end - query.start
    if span > MAX_RANGE or (query.bucket == "hour" and span > MAX_HOURLY_RANGE):
        raise api_error("range_too_large")
    if query.top is not None and not 1 <= query.top <= MAX_TOP:
        raise api_error("invalid_top", max_top=MAX_TOP)
    return query


def check_date(value: datetime) -> datetime:
    """A date-time between 1970 and 2200, else 400 ``invalid_range``."""
    try:
        ok = EARLIEST <= value.astimezone(UTC) < LATEST
    except OverflowError:
        ok = False
    if not ok:
        raise api_error("invalid_range", "dates")
    return value


def aware(value: datetime, tz: str) -> datetime:
    """A naive date-time is read in the report's zone (what a person typing dates means)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=check_zone(tz))
    return value


def build_query(
    *,
    start: datetime | None,
    end: datetime | None,
    bucket: str = "day",
    tz: str = "UTC",
    group_by: Iterable[str] = (),
    filters: Mapping[str, Iterable[str]] | None = None,
    top: int | None = None,
    now: datetime | None = None,
    latency: bool = False,
) -> ReportQuery:
    """Check and normalise report parameters: the range is widened to whole UTC hours (the rollups' grain)."""
    check_zone(tz)
    if bucket not in BUCKETS:
        raise api_error("invalid_bucket")
    now = now or datetime.now(UTC)
    end_at = hour_ceil(check_date(aware(end, tz)) if end else now)
    start_at = hour_floor(check_date(aware(start, tz)) if start else end_at - DEFAULT_RANGE)
    dims = tuple(_dimension(d) for d in split_list(group_by))
    parsed: dict[str, tuple[str, ...]] = {}
    for name, values in (filters or {}).items():
        dim = _dimension(name)
        vals = tuple(dict.fromkeys(v.strip() for v in values))
        if len(vals) > 1000:
            raise api_error("invalid_filter", "too_many")
        if dim == "use_case_version" and any(v and not (v.isascii() and v.isdigit()) for v in vals):
            raise api_error("invalid_filter", "use_case_version")
        parsed[dim] = tuple(sorted(set(parsed.get(dim, ())) | set(vals)))
    return _validate(
        ReportQuery(
            start=start_at.astimezone(UTC),
            end=end_at.astimezone(UTC),
            bucket=bucket,  # type: ignore[arg-type]
            tz=tz,
            group_by=dims,
            filters=parsed,
            top=top,
            latency=latency,
        )
    )
