"""Column types that behave the same on SQLite and PostgreSQL.

- ``UTCDateTime``: timezone-aware UTC datetimes in and out (SQLite has no time zones).
- ``Money``: USD amounts as ``Decimal`` with the ledger precision of 1e-10. PostgreSQL stores ``NUMERIC(38, 10)``;
  SQLite, which has no decimal type, stores an integer count of 1e-10 USD so that ``SUM`` and
  ``UPDATE ... SET spent = spent + x`` stay exact. On both, a value is at most ``MONEY_MAX`` (the int64 of
  SQLite): a larger one is written as ``MONEY_MAX`` (saturated, never wrapped or refused), and additions in SQL
  saturate the same way (``store.sums``).
- ``Price``: a unit price as ``Decimal`` (``NUMERIC(38, 18)`` / text), never summed in SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

MONEY_QUANTUM = Decimal("1e-10")
_MONEY_SCALE = 10**10

# What both databases store, so that a value from a request is refused (400) before it reaches a column.
MAX_INT32 = 2**31 - 1
"""``INTEGER`` columns (32-bit on PostgreSQL): latencies, status codes, versions."""
MAX_INT64 = 2**63 - 1
"""``BIGINT`` columns and every numeric id (SQLite's INTEGER, PostgreSQL's BIGINT)."""
MONEY_MAX = Decimal(MAX_INT64) / _MONEY_SCALE
"""The largest amount a ``Money`` column holds (SQLite: an int64 count of 1e-10 USD), about 9.2e8 USD."""
MAX_AMOUNT = Decimal(10**8)
"""The largest limit ``max`` accepted: 100 million USD, with room under ``MONEY_MAX`` for its spend and overrun."""
MAX_REQUEST_COST = Decimal(10**6)
"""The largest cost one call may be charged (1 million USD): about 9,200 of them fit in one ``Money`` sum."""
MAX_UNIT_PRICE = Decimal(10**4)
"""The largest unit price accepted (USD per unit; a token costs about 1e-6)."""


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _money(value: Decimal | int) -> Decimal:
    value = Decimal(value)
    if value > MONEY_MAX:  # a sum past what the column holds: saturated (``store.sums``)
        value = MONEY_MAX
    elif value < -MONEY_MAX:
        value = -MONEY_MAX
    return value.quantize(MONEY_QUANTUM)


def money_units(value: Decimal | int | None) -> int | None:
    """A ``Money`` value as SQLite stores it: an integer of 1e-10 USD (``store.sqlite_bulk`` calls it directly)."""
    return None if value is None else int(_money(value) * _MONEY_SCALE)


class Money(TypeDecorator[Decimal]):
    impl = Numeric(38, 10)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(38, 10, asdecimal=True))

    def process_bind_param(self, value: Decimal | int | None, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return money_units(value)
        return None if value is None else _money(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / _MONEY_SCALE).quantize(MONEY_QUANTUM)
        return Decimal(value).quantize(MONEY_QUANTUM)

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


class Price(TypeDecorator[Decimal]):
    impl = Numeric(38, 18)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(38, 18, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(Decimal(value)) if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).normalize() if dialect.name == "sqlite" else Decimal(value).normalize()
