"""Read-only queries behind dashboard pages that are not reports: limits, use cases, one request, keys.

Each takes a ``Scope`` (the organisation's applications) and never reads outside it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from ..ids import numeric_id
from ..limits.model import limit_view, state_after
from ..reports.forecast import forecast_limits, forecast_over
from ..reports.requestlog import safe_uri
from ..reports.scope import Scope
from ..store.changes import utcnow
from ..store.engine import Database
from ..store.tables import (
    limits,
    use_case_definitions,
    use_case_instances,
    use_case_kpi_scores,
    use_case_kpis,
)


async def limits_in(
    db: Database, scope: Scope, limit_id: str | None = None, over: tuple[datetime, datetime] | None = None
) -> list[dict[str, Any]]:
    """Live limits (or the one ``limit_id``) with spend, max, threshold, state (stale periodic windows read as
    empty) and forecast at the recent rate (``reports.forecast``); with ``over`` (the page's range) also
    ``range_forecast``, at the rate of that range."""
    if not scope.app_ids:
        return []
    query = (
        select(limits)
        .where(limits.c.app_id.in_(scope.app_ids), limits.c.deleted_at.is_(None))
        .order_by(limits.c.app_id, limits.c.name)
    )
    if limit_id is not None:
        query = query.where(limits.c.limit_id == limit_id)
    async with db.read() as conn:
        rows = [dict(r._mapping) for r in (await conn.execute(query)).all()]
    now = utcnow()
    out = limit_rows([(row["app_id"], limit_view(row, now)) for row in rows], scope)
    shown = [{**row, "spent": item["spent"]} for row, item in zip(rows, out, strict=True)]
    ahead = await forecast_limits(db, shown, now)
    in_range = await forecast_over(db, shown, now, *over) if over is not None else {}
    for row, item in zip(rows, out, strict=True):
        item["forecast"] = ahead.get(int(row["id"]))
        item["range_forecast"] = in_range.get(int(row["id"]))
    return out


def limit_rows(views: list[tuple[int, dict[str, Any]]], scope: Scope) -> list[dict[str, Any]]:
    """Limit views (``limit_view``) with what the pages show: application, spend, the true percentage of max
    (143 when overrun; bars cap at 100 themselves), threshold, and the state ``state_after`` gives."""
    out = []
    for app_id, view in views:
        spent = view["totals"]["cost"]["total"]["base"]
        maximum = view["max"] or 0.0
        threshold = view["threshold"] if view["threshold"] is not None else 1.0
        state = state_after(Decimal(str(spent)), Decimal(str(maximum)),
                            Decimal(str(view["threshold"])) if view["threshold"] is not None else None)
        out.append(
            {
                **view,
                "app_id": str(app_id),
                "application": scope.name(app_id),
                "spent": spent,
                "percent": 100.0 * spent / maximum if maximum else 0.0,
                "threshold_percent": min(100.0, threshold * 100.0),
                "has_threshold": view["threshold"] is not None and view["threshold"] < 1,
                "state": state,
                "requests_total": view["totals"]["requests"]["total"],
            }
        )
    return out


async def use_cases_in(db: Database, scope: Scope, window: tuple[datetime, datetime]) -> list[dict[str, Any]]:
    """Use case definitions with their KPIs, the average score each KPI got, and the instances started in
    ``window``."""
    if not scope.app_ids:
        return []
    async with db.read() as conn:
        defs = (
            await conn.execute(
                select(use_case_definitions)
                .where(use_case_definitions.c.app_id.in_(scope.app_ids))
                .order_by(use_case_definitions.c.app_id, use_case_definitions.c.name)
            )
        ).all()
        kpis = (
            await conn.execute(
                select(use_case_kpis).where(use_case_kpis.c.definition_pk.in_([d.id for d in defs] or [0]))
            )
        ).all()
        scores = (
            await conn.execute(
                select(
                    use_case_instances.c.app_id,
                    use_case_instances.c.name,
                    use_case_kpi_scores.c.kpi_name,
                    func.avg(use_case_kpi_scores.c.score).label("average"),
                    func.count().label("scored"),
                )
                .join(
                    use_case_instances,
                    (use_case_instances.c.app_id == use_case_kpi_scores.c.app_id)
                    & (use_case_instances.c.use_case_id == use_case_kpi_scores.c.use_case_id),
                )
                .where(use_case_kpi_scores.c.app_id.in_(scope.app_ids))
                .group_by(use_case_instances.c.app_id, use_case_instances.c.name, use_case_kpi_scores.c.kpi_name)
            )
        ).all()
        instances = (
            await conn.execute(
                select(use_case_instances.c.app_id, use_case_instances.c.name, func.count().label("n"))
                .where(use_case_instances.c.app_id.in_(scope.app_ids),
                       use_case_instances.c.created_at >= window[0], use_case_instances.c.created_at < window[1])
                .group_by(use_case_instances.c.app_id, use_case_instances.c.name)
            )
        ).all()
    score_of = {(s.app_id, s.name, s.kpi_name): (s.average, s.scored) for s in scores}
    count_of = {(i.app_id, i.name): i.n for i in instances}
    out = []
    for d in defs:
        mine = [k for k in kpis if k.definition_pk == d.id]
        out.append(
            {
                "app_id": str(d.app_id),
                "application": scope.name(d.app_id),
                "name": d.name,
                "description": d.description,
                "version": d.type_version,
                "implicit": d.implicit,
                "limit_config": d.limit_config,
                "instances": count_of.get((d.app_id, d.name), 0),
                "kpis": [
                    {
                        "name": k.name,
                        "kpi_type": k.kpi_type,
                        "goal": k.goal,
                        "average": score_of.get((d.app_id, d.name, k.name), (None, 0))[0],
                        "scored": score_of.get((d.app_id, d.name, k.name), (None, 0))[1],
                    }
                    for k in sorted(mine, key=lambda k: k.name)
                ],
            }
        )
    return out


async def request_detail(db: Database, scope: Scope, request_id: int) -> dict[str, Any] | None:
    """One recorded request of the scope, with its stored prompt/response (if any) and limit states."""
    data = await db.request_log.detail(scope.app_ids, request_id)
    if data is None:
        return None
    data["provider_uri"] = safe_uri(data.get("provider_uri"))
    data["application"] = scope.name(data["app_id"])
    return data


def cursor_of(row: dict[str, Any]) -> str:
    stamp: datetime = row["event_timestamp"]
    return f"{stamp.isoformat()}|{row['id']}"


def parse_cursor(value: str | None) -> tuple[datetime, int] | None:
    if not value or "|" not in value:
        return None
    stamp, _, rid = value.partition("|")
    number = numeric_id(rid)
    try:
        return (datetime.fromisoformat(stamp), number) if number is not None else None
    except ValueError:
        return None
