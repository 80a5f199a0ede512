"""Response parsing: strict validation raises, lenient construction never does; unknown fields are kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import payi
from payi._models import construct_type, validate_type
from payi.types import APIError, CategoryResourceResponse, IngestResponse, LimitResponse, XproxyResult

from .wire import LIMIT, LIMIT_RESPONSE, RESOURCE, TS, Api


def test_strict_missing_required_field_raises(recorder: Any, clean_env: pytest.MonkeyPatch) -> None:
    strict = Api("sync", recorder, _strict_response_validation=True)
    broken = {"request_id": "r", "limit": {k: v for k, v in LIMIT.items() if k != "limit_name"}}
    recorder.json(broken)
    with pytest.raises(payi.APIResponseValidationError) as info:
        strict.call(lambda c: c.limits.retrieve("2579"))
    assert info.value.body == broken
    assert info.value.status_code == 200
    strict.close()


def test_strict_wrong_enum_raises(recorder: Any, clean_env: pytest.MonkeyPatch) -> None:
    strict = Api("sync", recorder)
    recorder.json({"request_id": "r", "limit": {**LIMIT, "limit_type": "Allow"}})
    with pytest.raises(payi.APIResponseValidationError):
        strict.call(lambda c: c.limits.retrieve("2579"))
    strict.close()


def test_lenient_mode_constructs_anyway(recorder: Any, clean_env: pytest.MonkeyPatch) -> None:
    lenient = Api("sync", recorder, _strict_response_validation=False)
    recorder.json(
        {
            "request_id": "r",
            "limit": {
                "limit_id": "2579",
                "limit_type": "Allow",
                "max": 5,
                "limit_creation_timestamp": TS,
                "totals": {"cost": {}},
            },
        }
    )
    result = lenient.call(lambda c: c.limits.retrieve("2579"))
    assert isinstance(result, LimitResponse)
    assert result.limit.limit_id == "2579"
    assert result.limit.limit_type == "Allow"  # kept as sent
    assert result.limit.max == 5.0
    assert result.limit.limit_creation_timestamp == datetime(2025, 5, 1, 16, 39, 38, 999504, tzinfo=UTC)
    assert "limit_name" not in result.limit.model_fields_set
    lenient.close()


def test_lenient_construct_of_nested_lists_and_dicts() -> None:
    data = {
        "event_timestamp": "not a date",
        "ingest_timestamp": TS,
        "xproxy_result": {
            "limits": {"a": {"state": "weird"}},
            "cost": {"total": {"base": "x"}},
            "warnings": ["w"],
            "extra": 1,
        },
    }
    result = construct_type(IngestResponse, data)
    assert isinstance(result, IngestResponse)
    assert result.event_timestamp == "not a date"
    assert isinstance(result.xproxy_result, XproxyResult)
    assert result.xproxy_result.limits["a"].state == "weird"  # type: ignore[index]
    assert result.xproxy_result.extra == 1  # type: ignore[attr-defined]
    listed = construct_type(list[CategoryResourceResponse], [RESOURCE, {"resource_id": 5}])
    assert [type(item) for item in listed] == [CategoryResourceResponse, CategoryResourceResponse]


def test_aliases_and_extras() -> None:
    error = validate_type(APIError, {"statusCode": 429, "message": "Too Many Requests", "retry": True})
    assert error.status_code == 429
    assert error.model_extra == {"retry": True}
    assert error.to_dict() == {"statusCode": 429, "message": "Too Many Requests", "retry": True}
    assert error.to_dict(use_api_names=False)["status_code"] == 429
    assert error.to_json(indent=None) == '{"message":"Too Many Requests","statusCode":429,"retry":true}'
    resource = validate_type(CategoryResourceResponse, RESOURCE)
    assert resource.to_dict()["aws_bedrock_resource"] == {"model_units": 2}


def test_validate_type_none_and_lists() -> None:
    assert validate_type(None, {"x": 1}) is None
    assert validate_type(type(None), None) is None
    assert validate_type(list[LimitResponse], [LIMIT_RESPONSE])[0].limit.max == 100.0


def test_base_model_is_public() -> None:
    class Custom(payi.BaseModel):
        name: str

    assert Custom.model_validate({"name": "a", "other": 1}).other == 1  # type: ignore[attr-defined]


def test_construct_coerces_nested_values_without_warnings() -> None:
    import warnings

    from payi.types.limit import LimitHistoryResponse

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pydantic deprecation warning
        made = LimitResponse.construct(limit=LIMIT, request_id="r1", surprise={"kept": True})
        history = LimitHistoryResponse.model_construct(
            limit_history={"limit_id": "1", "reset_date": TS, "totals": LIMIT["totals"]}
        )
    assert isinstance(made.limit, payi.types.Limit)
    assert made.limit.limit_creation_timestamp == datetime.fromisoformat(TS)
    assert made.limit.totals.cost.total.base == 0.0 and isinstance(made.limit.totals.cost.total.base, float)
    assert made.surprise == {"kept": True}  # type: ignore[attr-defined]
    assert made.model_fields_set == {"limit", "request_id", "surprise"}
    assert isinstance(history.limit_history.reset_date, str)  # `str | datetime`: the str member fits first
    assert LimitResponse.construct(limit="not a dict").limit == "not a dict"  # kept as given, never raises


def test_str_of_a_model_names_its_class() -> None:
    response = payi.types.DefaultResponse.construct(request_id="7")
    assert str(response) == "DefaultResponse(request_id='7', message=None)"
    assert repr(response) == str(response)


def test_a_page_is_a_model(api: Api) -> None:
    from payi.pagination import AsyncCursorPage, SyncCursorPage

    api.recorder.json({"items": [LIMIT], "cursor": None})
    page = api.call(lambda c: c.limits.list())
    assert isinstance(page, (SyncCursorPage, AsyncCursorPage)) and isinstance(page, payi.BaseModel)
    assert page.to_dict()["items"][0]["limit_id"] == LIMIT["limit_id"]
    assert page.model_dump()["cursor"] is None
