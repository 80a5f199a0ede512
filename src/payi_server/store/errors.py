"""Telling "the database is unreachable" apart from "this data is wrong"."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc


def is_unavailable(exc: BaseException) -> bool:
    """Whether an error means the database could not be reached (rather than a problem with the data)."""
    if isinstance(exc, (OSError, ConnectionError, TimeoutError, sa_exc.OperationalError, sa_exc.InterfaceError)):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", None)
    name = type(orig).__name__ if orig is not None else ""
    return name in {"CannotConnectNowError", "ConnectionDoesNotExistError", "InterfaceError", "AdminShutdownError"}
