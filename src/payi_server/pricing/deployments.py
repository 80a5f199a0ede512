"""Deployments: what model an application's named deployment runs, so a call to it can be priced before it is made.

Azure OpenAI clients name a *deployment* (``/openai/deployments/prod-chat/chat/completions``) and send no model;
a strict limit cannot admit a call it cannot bound. The estimate therefore resolves the model, in this order:
``xProxy-PriceAs-Resource``; this mapping (set by an admin: API, CLI); what the provider reported the last time the
same application called the same deployment; the name itself. The mapping is per application and category, held
in memory by every process and refreshed through the change feed (entity ``deployment``, id = application).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from ..errors import api_error
from ..store.changes import ChangeFeed, record_change, utcnow
from ..store.engine import Database
from ..store.tables import applications, deployments
from ..store.upsert import insert_replace

ENTITY = "deployment"
AZURE_CATEGORY = "system.azureopenai"
NAME_MAX = 200
MODEL_MAX = 300
PER_APPLICATION_MAX = 1000

Key = tuple[int, str, str]  # (application, category, deployment)


def view(row: Any) -> dict[str, Any]:
    return {
        "application_id": str(row.app_id),
        "category": row.category,
        "deployment": row.deployment,
        "model": row.model,
        "updated_at": row.updated_at.isoformat() if isinstance(row.updated_at, datetime) else row.updated_at,
    }


class Deployments:
    """Every application's deployment -> model mapping, in memory; writes go to the database first."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._models: dict[Key, str] = {}
        self._reloads: dict[int, asyncio.Task[None]] = {}

    def model_for(self, app_id: int | None, category: str, deployment: str) -> str | None:
        if app_id is None:
            return None
        return self._models.get((app_id, category, deployment))

    async def load(self, app_id: int | None = None) -> None:
        """Read every mapping (or one application's) into memory."""
        query = select(deployments.c.app_id, deployments.c.category, deployments.c.deployment, deployments.c.model)
        if app_id is not None:
            query = query.where(deployments.c.app_id == app_id)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        fresh = {(r.app_id, r.category, r.deployment): r.model for r in rows}
        if app_id is None:
            self._models = fresh
            return
        kept = {k: v for k, v in self._models.items() if k[0] != app_id}
        kept.update(fresh)
        self._models = kept

    def attach(self, feed: ChangeFeed) -> None:
        feed.subscribe(ENTITY, self._changed)

    def _changed(self, entity_id: str) -> None:
        if not entity_id.isdigit():
            return
        app_id = int(entity_id)
        running = self._reloads.get(app_id)
        if running is None or running.done():
            self._reloads[app_id] = asyncio.create_task(self.load(app_id))

    # --- administration (API and CLI) ---------------------------------------------------------------------
    async def _check_app(self, conn: Any, org_id: int, app_id: int) -> None:
        query = select(applications.c.id).where(
            applications.c.id == app_id, applications.c.org_id == org_id, applications.c.deleted_at.is_(None)
        )
        if (await conn.execute(query)).first() is None:
            raise api_error("application_not_found", app_id=app_id)

    async def list(self, org_id: int, app_id: int) -> list[dict[str, Any]]:
        async with self._db.read() as conn:
            await self._check_app(conn, org_id, app_id)
            query = (
                select(deployments)
                .where(deployments.c.app_id == app_id)
                .order_by(deployments.c.category, deployments.c.deployment)
            )
            return [view(r) for r in (await conn.execute(query)).all()]

    async def set(self, org_id: int, app_id: int, category: str, deployment: str, model: str) -> dict[str, Any]:
        """Map ``deployment`` to ``model`` (the caller has checked that the model is priced in ``category``)."""
        now = utcnow()
        async with self._db.write() as conn:
            await self._check_app(conn, org_id, app_id)
            count_query = select(deployments.c.deployment).where(deployments.c.app_id == app_id)
            existing = {r.deployment for r in (await conn.execute(count_query)).all()}
            if deployment not in existing and len(existing) >= PER_APPLICATION_MAX:
                raise api_error("too_many_deployments", per_application_max=PER_APPLICATION_MAX)
            values = {
                "app_id": app_id, "category": category, "deployment": deployment, "model": model,
                "created_at": now, "updated_at": now,
            }
            key = ["app_id", "category", "deployment"]
            await conn.execute(insert_replace(self._db, deployments, key, ["model", "updated_at"]).values(values))
            await record_change(conn, self._db, ENTITY, str(app_id))
            row = (
                await conn.execute(
                    select(deployments).where(
                        deployments.c.app_id == app_id,
                        deployments.c.category == category,
                        deployments.c.deployment == deployment,
                    )
                )
            ).one()
        self._models[(app_id, category, deployment)] = model  # this process: at once; the others: change feed
        return view(row)

    async def remove(self, org_id: int, app_id: int, category: str, deployment: str) -> dict[str, Any]:
        async with self._db.write() as conn:
            await self._check_app(conn, org_id, app_id)
            where = (
                (deployments.c.app_id == app_id)
                & (deployments.c.category == category)
                & (deployments.c.deployment == deployment)
            )
            row = (await conn.execute(select(deployments).where(where))).first()
            if row is None:
                raise api_error("deployment_not_found", deployment=deployment[:NAME_MAX])
            await conn.execute(delete(deployments).where(where))
            await record_change(conn, self._db, ENTITY, str(app_id))
        self._models.pop((app_id, category, deployment), None)
        return view(row)
