"""A report's money read as an int8 count of 1e-10 USD (PostgreSQL, ``reports.service``) gives the JSON answer the same
float as the exact decimal did, and the CSV the same decimal."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from payi_server.reports.service import UNITS
from payi_server.store.types import MAX_INT64


@given(st.integers(min_value=-MAX_INT64, max_value=MAX_INT64))
def test_units_give_the_float_and_the_decimal_of_the_amount(units: int) -> None:
    exact = Decimal(units).scaleb(-10)
    assert exact == Decimal(units) / Decimal(UNITS)
    assert units / UNITS == float(exact)  # both correctly rounded: the same float
    assert f"{exact:f}" == f"{Decimal(units) / Decimal(UNITS):.10f}"


def test_the_collector_paused_while_rows_are_built_comes_back_as_it_was() -> None:
    import gc

    import pytest

    from payi_server.reports.service import _collector_paused

    assert gc.isenabled()
    with pytest.raises(RuntimeError), _collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("a report that fails half way")
    assert gc.isenabled()
    gc.disable()
    try:
        with _collector_paused():
            pass
        assert not gc.isenabled()  # it was off: it stays off
    finally:
        gc.enable()
