"""Additions and sums in SQL that never pass what a column holds, the same on SQLite and PostgreSQL.

A ``Money`` column holds at most ``MONEY_MAX`` (about 9.2e8 USD: an int64 count of 1e-10 USD on SQLite), a
``BigInteger`` at most 2^63-1. One call costs at most 1e6 USD, but about 9,200 of them in one rollup row or one
limit would pass it: SQLite then turns the row into an inexact float (``+`` overflows to REAL) and its ``SUM``
raises; PostgreSQL's ``NUMERIC`` would go on exactly, so the two would disagree.

- ``saturating_add``: ``column + amount`` that stops at the column's ceiling and stays there (a saturated value
  means "at least this much", so a later negative amount, an erasure or a property move, leaves it saturated).
  Writes of computed values are clamped by ``Money`` itself (``store.types``); a limit at the ceiling is far above
  any ``max`` it can have (at most 1e8 USD), so it reads as overrun and a strict one refuses.
- ``wide_sum``: ``SUM`` for reports. Exact wherever the total fits in int64; beyond that SQLite's total is a float
  (16 significant digits, what the wire carries anyway) instead of an "integer overflow" error, and PostgreSQL's
  sum of an integer column stops at int64's ends (it is read back as an int8, which the driver decodes several
  times faster than the ``NUMERIC`` PostgreSQL sums integers into).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Integer, case, cast, func, literal_column, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from .types import MAX_INT32, MAX_INT64, MONEY_MAX, Money

_HALF = 2**32  # SQLite: each row is split into value // 2^32 and the rest, so neither partial sum can overflow


def ceiling(column: Any, sqlite: bool) -> ColumnElement[Any]:
    """The largest value ``column`` holds, as an SQL literal of the dialect's stored representation."""
    kind = column.type
    if isinstance(kind, Money):
        top = str(MAX_INT64) if sqlite else f"{MONEY_MAX:f}"  # SQLite stores a count of 1e-10 USD
    elif isinstance(kind, BigInteger):
        top = str(MAX_INT64)
    elif isinstance(kind, Integer):
        top = str(MAX_INT32)
    else:
        raise TypeError(f"no ceiling for a {kind!r} column")
    return literal_column(top, type_=kind)


def saturating_add(column: Any, amount: Any, sqlite: bool) -> ColumnElement[Any]:
    """``column + amount``, at most the column's ceiling (and once there, there it stays).

    No intermediate value passes the ceiling either: the test is ``amount >= top - column`` for a positive
    column, never the overflowing sum.
    """
    top = ceiling(column, sqlite)
    return case(
        (column >= top, top),
        (column <= 0, column + amount),
        (amount >= top - column, top),
        else_=column + amount,
    )


def wide_sum(expr: Any, sqlite: bool, window: bool = False) -> ColumnElement[Any]:
    """``SUM(expr)`` (``OVER ()`` with ``window``) that never raises on SQLite, typed like ``expr``.

    SQLite: ``sum(hi) * 2^32 + sum(lo)`` with ``hi = expr / 2^32`` (integer division, or a float truncated when a
    row is already a float) and ``lo = expr - hi * 2^32``. Each partial sum stays far inside int64 for up to 2^31
    rows, and the final ``*`` and ``+`` turn into a float instead of failing when the total passes int64.
    """
    if not sqlite:
        total: Any = func.sum(expr)
        if window:
            total = total.over()
        if isinstance(expr.type, Integer):  # BigInteger too (not Money: a TypeDecorator over NUMERIC)
            bound: ColumnElement[Any] = literal_column(str(MAX_INT64))
            # (not LEAST/GREATEST: they skip a NULL, the sum of no rows)
            return cast(case((total > bound, bound), (total < -bound, -bound), else_=total), BigInteger)
        return total  # type: ignore[no-any-return]
    hi = cast(expr.op("/")(literal_column(str(_HALF))), Integer)
    lo = expr - hi * literal_column(str(_HALF))
    sum_hi, sum_lo = func.sum(hi), func.sum(lo)
    if window:
        sum_hi, sum_lo = sum_hi.over(), sum_lo.over()  # type: ignore[assignment]
    return type_coerce(sum_hi * literal_column(str(_HALF)) + sum_lo, expr.type)
