"""Organisations, applications and their keys: the operations behind the admin API, the CLI and first start.

Every change to a key or an application is noted in ``change_log`` in the same transaction, so that every
server process drops its cached copy within a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import api_error
from ..settings import SettingsError
from ..store.changes import record_change, utcnow
from ..store.engine import Database
from ..store.tables import api_keys, applications, organizations, server_meta
from .keys import KeyHasher, KeyKind, NewKey, generate_key

SLOTS = (1, 2)


@dataclass(frozen=True)
class IssuedKey:
    """A key row plus, once, its plaintext."""

    row: dict[str, Any]
    plaintext: str


@dataclass(frozen=True)
class Bootstrap:
    org_id: int
    org_key: IssuedKey
    app: dict[str, Any]
    app_keys: list[IssuedKey]


def key_view(row: Any, plaintext: str | None = None) -> dict[str, Any]:
    """A key as the admin API shows it: never its hash, its plaintext only when just issued."""
    data = row._mapping if hasattr(row, "_mapping") else row
    prefix = ("payi_app_" if data["kind"] == KeyKind.APPLICATION else "payi_org_") + data["lookup_id"]
    out: dict[str, Any] = {
        "key_id": str(data["id"]),
        "kind": data["kind"],
        "app_id": str(data["app_id"]) if data["app_id"] is not None else None,
        "slot": data["slot"],
        "prefix": prefix,
        "lookup_id": data["lookup_id"],
        "label": data["label"],
        "created_at": data["created_at"],
        "expires_at": data["expires_at"],
        "revoked_at": data["revoked_at"],
        "last_used_at": data["last_used_at"],
        "active": data["revoked_at"] is None and (data["expires_at"] is None or data["expires_at"] > utcnow()),
    }
    if plaintext is not None:
        out["key"] = plaintext
    return out


def app_view(row: Any) -> dict[str, Any]:
    data = row._mapping if hasattr(row, "_mapping") else row
    return {
        "app_id": str(data["id"]),
        "name": data["name"],
        "description": data["description"],
        "store_prompts": bool(data["store_prompts"]),
        "created_at": data["created_at"],
    }


class Tenancy:
    def __init__(self, db: Database, hasher: KeyHasher) -> None:
        self.db = db
        self.hasher = hasher

    # --- keys --------------------------------------------------------------------------------------
    async def _insert_key(
        self,
        conn: Any,
        *,
        kind: KeyKind,
        org_id: int,
        app_id: int | None,
        slot: int | None,
        label: str = "",
        expires_at: datetime | None = None,
    ) -> IssuedKey:
        new: NewKey = generate_key(kind)
        values = {
            "org_id": org_id,
            "app_id": app_id,
            "kind": kind.value,
            "slot": slot,
            "lookup_id": new.lookup_id,
            "key_hash": self.hasher.hash(new.plaintext),
            "label": label,
            "created_at": utcnow(),
            "expires_at": expires_at,
            "revoked_at": None,
            "last_used_at": None,
        }
        key_id = (await conn.execute(insert(api_keys).values(**values).returning(api_keys.c.id))).scalar_one()
        await record_change(conn, self.db, "key", new.lookup_id)
        return IssuedKey(row={"id": key_id, **values}, plaintext=new.plaintext)

    async def create_org_key(
        self, org_id: int, *, label: str = "", expires_at: datetime | None = None
    ) -> IssuedKey:
        _check_expiry(expires_at)
        async with self.db.write() as conn:
            return await self._insert_key(
                conn, kind=KeyKind.ORGANIZATION, org_id=org_id, app_id=None, slot=None, label=label,
                expires_at=expires_at,
            )

    async def list_keys(self, org_id: int, app_id: int | None = None, include_revoked: bool = False) -> list[dict[str, Any]]:
        query = select(api_keys).where(api_keys.c.org_id == org_id).order_by(api_keys.c.id)
        if app_id is not None:
            query = query.where(api_keys.c.app_id == app_id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        async with self.db.read() as conn:
            return [key_view(r) for r in (await conn.execute(query)).all()]

    async def _key_row(self, conn: Any, org_id: int, key_id: int) -> Any:
        row = (
            await conn.execute(select(api_keys).where(api_keys.c.id == key_id, api_keys.c.org_id == org_id))
        ).first()
        if row is None:
            raise api_error("key_not_found", key_id=key_id)
        return row

    async def revoke_key(self, org_id: int, key_id: int) -> dict[str, Any]:
        async with self.db.write() as conn:
            row = await self._key_row(conn, org_id, key_id)
            if row.revoked_at is None:
                await conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=utcnow()))
                await record_change(conn, self.db, "key", row.lookup_id)
            return key_view(await self._key_row(conn, org_id, key_id))

    async def set_expiry(self, org_id: int, key_id: int, expires_at: datetime | None) -> dict[str, Any]:
        async with self.db.write() as conn:
            row = await self._key_row(conn, org_id, key_id)
            if row.revoked_at is not None:
                raise api_error("key_revoked", key_id=key_id)
            await conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(expires_at=expires_at))
            await record_change(conn, self.db, "key", row.lookup_id)
            return key_view(await self._key_row(conn, org_id, key_id))

    async def regenerate(self, org_id: int, app_id: int, slot: int, expires_at: datetime | None = None) -> IssuedKey:
        """Issue a new key in ``slot`` and revoke the one it replaces; the other slot is untouched."""
        if slot not in SLOTS:
            raise api_error("invalid_key_slot")
        _check_expiry(expires_at)
        async with self.db.write() as conn:
            await self._app_row(conn, org_id, app_id)
            old = (
                await conn.execute(
                    select(api_keys.c.id, api_keys.c.lookup_id).where(
                        api_keys.c.app_id == app_id, api_keys.c.slot == slot, api_keys.c.revoked_at.is_(None)
                    )
                )
            ).all()
            for row in old:
                await conn.execute(update(api_keys).where(api_keys.c.id == row.id).values(revoked_at=utcnow()))
                await record_change(conn, self.db, "key", row.lookup_id)
            return await self._insert_key(
                conn, kind=KeyKind.APPLICATION, org_id=org_id, app_id=app_id, slot=slot, expires_at=expires_at
            )

    # --- applications ------------------------------------------------------------------------------
    async def _app_row(self, conn: Any, org_id: int, app_id: int) -> Any:
        row = (
            await conn.execute(
                select(applications).where(
                    applications.c.id == app_id,
                    applications.c.org_id == org_id,
                    applications.c.deleted_at.is_(None),
                )
            )
        ).first()
        if row is None:
            raise api_error("application_not_found", app_id=app_id)
        return row

    async def create_application(
        self, org_id: int, name: str, *, description: str = "", store_prompts: bool = False
    ) -> tuple[dict[str, Any], list[IssuedKey]]:
        name = name.strip()
        if not name or len(name) > 200:
            raise api_error("invalid_application_name")
        try:
            async with self.db.write() as conn:
                values = {
                    "org_id": org_id,
                    "name": name,
                    "description": description,
                    "store_prompts": store_prompts,
                    "created_at": utcnow(),
                    "deleted_at": None,
                }
                app_id = (
                    await conn.execute(insert(applications).values(**values).returning(applications.c.id))
                ).scalar_one()
                keys = [
                    await self._insert_key(conn, kind=KeyKind.APPLICATION, org_id=org_id, app_id=app_id, slot=slot)
                    for slot in SLOTS
                ]
        except IntegrityError:
            raise api_error("application_already_exists", name=name) from None
        return app_view({"id": app_id, **values}), keys

    async def list_applications(self, org_id: int) -> list[dict[str, Any]]:
        query = (
            select(applications)
            .where(applications.c.org_id == org_id, applications.c.deleted_at.is_(None))
            .order_by(applications.c.id)
        )
        async with self.db.read() as conn:
            return [app_view(r) for r in (await conn.execute(query)).all()]

    async def get_application(self, org_id: int, app_id: int) -> dict[str, Any]:
        async with self.db.read() as conn:
            return app_view(await self._app_row(conn, org_id, app_id))

    async def find_application(self, org_id: int, name_or_id: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            query = select(applications).where(
                applications.c.org_id == org_id, applications.c.deleted_at.is_(None), applications.c.name == name_or_id
            )
            row = (await conn.execute(query)).first()
            if row is None and name_or_id.isascii() and name_or_id.isdigit():
                row = await self._app_row(conn, org_id, int(name_or_id))
            if row is None:
                raise api_error("application_not_found", app_id=name_or_id)
            return app_view(row)

    async def update_application(
        self, org_id: int, app_id: int, *, store_prompts: bool | None = None, description: str | None = None
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if store_prompts is not None:
            values["store_prompts"] = store_prompts
        if description is not None:
            values["description"] = description
        async with self.db.write() as conn:
            await self._app_row(conn, org_id, app_id)
            if values:
                await conn.execute(update(applications).where(applications.c.id == app_id).values(**values))
                await record_change(conn, self.db, "app", str(app_id))
            return app_view(await self._app_row(conn, org_id, app_id))

    async def delete_application(self, org_id: int, app_id: int) -> dict[str, Any]:
        """Delete an application: its keys stop working; its recorded requests stay for reports."""
        now = utcnow()
        async with self.db.write() as conn:
            row = await self._app_row(conn, org_id, app_id)
            await conn.execute(update(applications).where(applications.c.id == app_id).values(deleted_at=now))
            await conn.execute(
                update(api_keys)
                .where(api_keys.c.app_id == app_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            await record_change(conn, self.db, "app", str(app_id))
            return app_view(row)

    # --- organisation and first start --------------------------------------------------------------
    async def first_organization(self) -> int | None:
        async with self.db.read() as conn:
            org_id: int | None = (await conn.execute(select(func.min(organizations.c.id)))).scalar()
            return org_id

    async def bootstrap(self, org_name: str = "default") -> Bootstrap | None:
        """On an empty database: an organisation, its key, and an application ``default`` with two keys."""
        try:
            async with self.db.write() as conn:
                if (await conn.execute(select(func.count()).select_from(organizations))).scalar_one():
                    return None
                # The primary key makes a second concurrent start-up fail here and roll back.
                await conn.execute(insert(server_meta).values(name="bootstrapped_at", value=utcnow().isoformat()))
                org_id = (
                    await conn.execute(
                        insert(organizations).values(name=org_name, created_at=utcnow()).returning(organizations.c.id)
                    )
                ).scalar_one()
                org_key = await self._insert_key(
                    conn, kind=KeyKind.ORGANIZATION, org_id=org_id, app_id=None, slot=None, label="bootstrap"
                )
        except IntegrityError:
            return None
        app, keys = await self.create_application(org_id, "default")
        return Bootstrap(org_id=org_id, org_key=org_key, app=app, app_keys=keys)

    async def check_secret(self) -> None:
        """Refuse to start with a key-hashing secret other than the one this database's keys were hashed with."""
        fingerprint = self.hasher.fingerprint()
        async with self.db.write() as conn:
            stored = (
                await conn.execute(select(server_meta.c.value).where(server_meta.c.name == "secret_fingerprint"))
            ).scalar()
            if stored is None:
                await conn.execute(insert(server_meta).values(name="secret_fingerprint", value=fingerprint))
                return
        if stored != fingerprint:
            raise SettingsError(
                "PAYI_SERVER_SECRET_KEY: this database's keys were hashed with a different secret; "
                "set the secret it was created with (every server process must share one)"
            )


def _check_expiry(expires_at: datetime | None) -> None:
    if expires_at is not None and expires_at.tzinfo is None:
        raise api_error("invalid_expiry")
