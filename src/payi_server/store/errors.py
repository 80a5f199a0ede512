"""Telling "the database is unreachable" apart from "this data is wrong"."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc


def is_unavailable(exc: BaseException) -> bool:
    """Whether an error means the database could not be reached (rather than a problem with the data)."""
    if isinstance(exc, (OSError, ConnectionError, TimeoutError, sa_exc.OperationalError, sa_exc.InterfaceError)):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    # The driver's own error, raised as it is (``store.bulk`` talks to asyncpg directly) or a few links down the
    # chain (SQLAlchemy wraps asyncpg's).
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, (OSError, ConnectionError)) or type(seen).__name__ in _CONNECTION_ERRORS:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return False


def is_bad_value(exc: BaseException) -> bool:
    """Whether the database refused a value (SQLSTATE class 22, "data exception": too long for its column, out of
    range, a NUL character in text), i.e. the request's fault, not the server's."""
    if isinstance(exc, sa_exc.DataError):
        return True
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if str(getattr(seen, "sqlstate", "") or "").startswith("22"):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return False


_CONNECTION_ERRORS = frozenset(
    {
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "PostgresConnectionError",
        "AdminShutdownError",
        "CrashShutdownError",
        "InterfaceError",
        "ConnectionRejectionError",
    }
)
