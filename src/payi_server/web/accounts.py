"""Dashboard users and their sessions.

- Passwords are hashed with argon2id (``argon2-cffi``'s defaults), verified off the event loop.
- A session is a random 256-bit token in an HttpOnly cookie; the table keeps its SHA-256 only, the user, a CSRF
  synchronizer token and a hard expiry. Signing out deletes the row; an expired row opens nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import ApiError, api_error
from ..store.changes import utcnow
from ..store.engine import Database
from ..store.tables import dashboard_sessions, dashboard_users

ROLES = ("admin", "viewer")
EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,190}$")
MIN_PASSWORD = 10
DEFAULT_SESSION_LIFETIME = timedelta(hours=12)
FIRST_ADMIN_EMAIL = "admin@localhost"

_hasher = PasswordHasher()
# Verified when the email is unknown, so that a wrong email takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class WebUser:
    """The signed-in user of one request."""

    user_id: int
    org_id: int
    email: str
    role: str
    session_id: int
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def check_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise api_error("invalid_email")
    return email


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD or len(password) > 1024:
        raise api_error("invalid_password", min_password=MIN_PASSWORD)
    return password


def user_view(row: Any) -> dict[str, Any]:
    return {
        "user_id": str(row.id),
        "email": row.email,
        "role": row.role,
        "created_at": row.created_at,
        "last_login_at": row.last_login_at,
        "disabled": row.disabled_at is not None,
    }


class Accounts:
    """Users and sessions of one database."""

    def __init__(self, db: Database, session_lifetime: timedelta = DEFAULT_SESSION_LIFETIME) -> None:
        self._db = db
        self.session_lifetime = session_lifetime

    # --- users -------------------------------------------------------------------------------------
    async def create_user(self, org_id: int, email: str, password: str, role: str) -> dict[str, Any]:
        if role not in ROLES:
            raise api_error("invalid_role")
        email = check_email(email)
        hashed = await asyncio.to_thread(_hasher.hash, check_password(password))
        now = utcnow()
        try:
            async with self._db.write() as conn:
                await conn.execute(
                    insert(dashboard_users).values(
                        org_id=org_id, email=email, password_hash=hashed, role=role, created_at=now, updated_at=now
                    )
                )
                row = (await conn.execute(select(dashboard_users).where(dashboard_users.c.email == email))).one()
        except IntegrityError:
            raise api_error("user_already_exists") from None
        return user_view(row)

    async def list_users(self, org_id: int) -> list[dict[str, Any]]:
        query = select(dashboard_users).where(dashboard_users.c.org_id == org_id).order_by(dashboard_users.c.id)
        async with self._db.read() as conn:
            return [user_view(r) for r in (await conn.execute(query)).all()]

    async def set_password(self, org_id: int, email: str, password: str) -> None:
        hashed = await asyncio.to_thread(_hasher.hash, check_password(password))
        async with self._db.write() as conn:
            user_id = await self._user_id(conn, org_id, email)
            await conn.execute(
                update(dashboard_users)
                .where(dashboard_users.c.id == user_id)
                .values(password_hash=hashed, updated_at=utcnow())
            )
            await conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.user_id == user_id))

    async def delete_user(self, org_id: int, email: str, *, keep_an_admin: bool = False) -> None:
        """Delete a user and their sessions; ``keep_an_admin`` refuses to delete the organisation's last admin."""
        async with self._db.write() as conn:
            user_id = await self._user_id(conn, org_id, email)
            if keep_an_admin:
                await self._not_the_last_admin(conn, org_id, user_id)
            await conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.user_id == user_id))
            await conn.execute(delete(dashboard_users).where(dashboard_users.c.id == user_id))

    async def set_role(self, org_id: int, email: str, role: str) -> None:
        """Change a user's role (their sessions follow at once); the organisation keeps at least one admin."""
        if role not in ROLES:
            raise api_error("invalid_role")
        async with self._db.write() as conn:
            user_id = await self._user_id(conn, org_id, email)
            if role != "admin":
                await self._not_the_last_admin(conn, org_id, user_id)
            await conn.execute(
                update(dashboard_users).where(dashboard_users.c.id == user_id).values(role=role, updated_at=utcnow())
            )

    async def _not_the_last_admin(self, conn: Any, org_id: int, user_id: int) -> None:
        # Lock the organisation's admins (PostgreSQL; SQLite has one writer): two admins demoting each other at
        # once must not both succeed.
        query = select(dashboard_users.c.id).where(
            dashboard_users.c.org_id == org_id, dashboard_users.c.role == "admin", dashboard_users.c.disabled_at.is_(None)
        )
        if conn.dialect.name != "sqlite":
            query = query.with_for_update()
        admins = set((await conn.execute(query)).scalars().all())
        if admins <= {user_id}:
            raise api_error("last_admin")

    async def user_email(self, org_id: int, user_id: int) -> str:
        """The email of a user of the organisation (``user_not_found`` otherwise)."""
        query = select(dashboard_users.c.email).where(dashboard_users.c.org_id == org_id, dashboard_users.c.id == user_id)
        async with self._db.read() as conn:
            found = (await conn.execute(query)).scalar()
        if found is None:
            raise api_error("user_not_found")
        return str(found)

    async def _user_id(self, conn: Any, org_id: int, email: str) -> int:
        found = (
            await conn.execute(
                select(dashboard_users.c.id).where(
                    dashboard_users.c.org_id == org_id, dashboard_users.c.email == email.strip().lower()
                )
            )
        ).scalar()
        if found is None:
            raise api_error("user_not_found")
        return int(found)

    async def ensure_first_admin(self, org_id: int) -> tuple[str, str] | None:
        """At first start: an admin ``admin@localhost`` with a generated password, if the organisation has no user.

        Returns ``(email, password)`` to show once, or None."""
        async with self._db.read() as conn:
            count = (
                await conn.execute(
                    select(func.count()).select_from(dashboard_users).where(dashboard_users.c.org_id == org_id)
                )
            ).scalar_one()
        if count:
            return None
        password = generate_password()
        try:
            await self.create_user(org_id, FIRST_ADMIN_EMAIL, password, "admin")
        except ApiError:
            return None  # another process created it first
        return FIRST_ADMIN_EMAIL, password

    # --- sign-in and sessions ----------------------------------------------------------------------
    async def authenticate(self, email: str, password: str) -> int | None:
        """The user id for a correct email and password of an enabled user, else None (in constant-ish time)."""
        query = select(dashboard_users.c.id, dashboard_users.c.password_hash, dashboard_users.c.disabled_at).where(
            dashboard_users.c.email == email.strip().lower()[:254]
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        stored = row.password_hash if row is not None else _DUMMY_HASH
        try:
            await asyncio.to_thread(_hasher.verify, stored, password[:1024])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None or row.disabled_at is not None:
            return None
        if _hasher.check_needs_rehash(stored):
            hashed = await asyncio.to_thread(_hasher.hash, password)
            async with self._db.write() as conn:
                await conn.execute(update(dashboard_users).where(dashboard_users.c.id == row.id).values(password_hash=hashed))
        return int(row.id)

    async def open_session(self, user_id: int) -> tuple[str, datetime]:
        """A new session: ``(cookie token, expiry)``; expired sessions are swept on the way."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        expires = now + self.session_lifetime
        async with self._db.write() as conn:
            await conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.expires_at < now))
            await conn.execute(
                insert(dashboard_sessions).values(
                    token_hash=token_hash(token),
                    user_id=user_id,
                    csrf_token=secrets.token_urlsafe(32),
                    created_at=now,
                    expires_at=expires,
                    last_seen_at=now,
                )
            )
            await conn.execute(update(dashboard_users).where(dashboard_users.c.id == user_id).values(last_login_at=now))
        return token, expires

    async def session_user(self, token: str) -> WebUser | None:
        """The user of a live session token, or None (unknown, expired, or the user is disabled)."""
        if not token or len(token) > 128:
            return None
        query = (
            select(
                dashboard_sessions.c.id.label("session_id"),
                dashboard_sessions.c.csrf_token,
                dashboard_sessions.c.expires_at,
                dashboard_users.c.id.label("user_id"),
                dashboard_users.c.org_id,
                dashboard_users.c.email,
                dashboard_users.c.role,
                dashboard_users.c.disabled_at,
            )
            .join(dashboard_users, dashboard_users.c.id == dashboard_sessions.c.user_id)
            .where(dashboard_sessions.c.token_hash == token_hash(token))
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None or row.expires_at <= utcnow() or row.disabled_at is not None:
            return None
        return WebUser(
            user_id=row.user_id,
            org_id=row.org_id,
            email=row.email,
            role=row.role,
            session_id=row.session_id,
            csrf_token=row.csrf_token,
        )

    async def close_session(self, token: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.token_hash == token_hash(token)))
