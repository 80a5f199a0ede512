"""``client.use_cases``: instances, properties, KPI scores, definitions, versions, limit configs and KPI definitions."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from payi.pagination import AsyncCursorPage, SyncCursorPage
from payi.types import UseCaseInstanceResponse
from payi.types.use_cases import KpiListResponse, UseCaseDefinitionResponse
from payi.types.use_cases.definitions import KpiResponse

from .wire import DEFINITION, INSTANCE, KPI, Api, check_wire, page

PAGES = (SyncCursorPage, AsyncCursorPage)
SCORE = {"kpi_name": "csat", "kpi_type": "likert5", "score": 4.0, "create_timestamp": "2025-01-01T00:00:00Z"}
DEFS = "/api/v1/use_cases/definitions"
INSTANCES = "/api/v1/use_cases/instances"

CASES: dict[str, dict[str, Any]] = {
    "create": dict(
        call=lambda c: c.use_cases.create("support-bot"),
        method="POST",
        path=f"{INSTANCES}/support-bot",
        response=INSTANCE,
        result_type=UseCaseInstanceResponse,
    ),
    "retrieve": dict(
        call=lambda c: c.use_cases.retrieve("uc-1", use_case_name="support-bot"),
        method="GET",
        path=f"{INSTANCES}/support-bot/uc-1",
        response=INSTANCE,
        result_type=UseCaseInstanceResponse,
    ),
    "delete": dict(
        call=lambda c: c.use_cases.delete("uc-1", use_case_name="support-bot"),
        method="DELETE",
        path=f"{INSTANCES}/support-bot/uc-1",
        response=INSTANCE,
        result_type=UseCaseInstanceResponse,
    ),
    "properties.update": dict(
        call=lambda c: c.use_cases.properties.update(
            "uc-1", use_case_name="support-bot", properties={"t": "g"}
        ),
        method="PUT",
        path=f"{INSTANCES}/support-bot/uc-1/properties",
        response=INSTANCE,
        result_type=UseCaseInstanceResponse,
        body={"properties": {"t": "g"}},
    ),
    "kpis.list": dict(
        call=lambda c: c.use_cases.kpis.list("uc-1", use_case_name="support-bot", kpi_name="csat", limit=1),
        method="GET",
        path=f"{INSTANCES}/support-bot/uc-1/kpis",
        response=page([SCORE]),
        result_type=PAGES,
        query={"kpi_name": "csat", "limit": "1"},
    ),
    "definitions.create": dict(
        call=lambda c: c.use_cases.definitions.create(
            name="support-bot",
            description="Answers tickets",
            limit_config={"max": 5.0, "limit_type": "allow"},
            logging_enabled=False,
        ),
        method="POST",
        path=DEFS,
        response=DEFINITION,
        result_type=UseCaseDefinitionResponse,
        body={
            "name": "support-bot",
            "description": "Answers tickets",
            "limit_config": {"max": 5.0, "limit_type": "allow"},
            "logging_enabled": False,
        },
    ),
    "definitions.retrieve": dict(
        call=lambda c: c.use_cases.definitions.retrieve("support.bot-v2"),
        method="GET",
        path=f"{DEFS}/support.bot-v2",
        response=DEFINITION,
        result_type=UseCaseDefinitionResponse,
    ),
    "definitions.update": dict(
        call=lambda c: c.use_cases.definitions.update("support-bot", description="New"),
        method="PUT",
        path=f"{DEFS}/support-bot",
        response=DEFINITION,
        result_type=UseCaseDefinitionResponse,
        body={"description": "New"},
    ),
    "definitions.list": dict(
        call=lambda c: c.use_cases.definitions.list(use_case_name="support-bot", sort_ascending=True),
        method="GET",
        path=DEFS,
        response=page([DEFINITION]),
        result_type=PAGES,
        query={"use_case_name": "support-bot", "sort_ascending": "true"},
    ),
    "definitions.delete": dict(
        call=lambda c: c.use_cases.definitions.delete("support-bot"),
        method="DELETE",
        path=f"{DEFS}/support-bot",
        response=DEFINITION,
        result_type=UseCaseDefinitionResponse,
    ),
    "definitions.version.increment": dict(
        call=lambda c: c.use_cases.definitions.version.increment("support-bot"),
        method="POST",
        path=f"{DEFS}/support-bot/increment_version",
        response={**DEFINITION, "type_version": 2},
        result_type=UseCaseDefinitionResponse,
    ),
    "definitions.limit_config.create": dict(
        call=lambda c: c.use_cases.definitions.limit_config.create("support-bot", max=5.0, threshold=0.8),
        method="POST",
        path=f"{DEFS}/support-bot/limit_config",
        response=DEFINITION,
        result_type=UseCaseDefinitionResponse,
        body={"max": 5.0, "threshold": 0.8},
    ),
    "definitions.limit_config.delete": dict(
        call=lambda c: c.use_cases.definitions.limit_config.delete("support-bot"),
        method="DELETE",
        path=f"{DEFS}/support-bot/limit_config",
        response={**DEFINITION, "limit_config": None},
        result_type=UseCaseDefinitionResponse,
    ),
    "definitions.kpis.create": dict(
        call=lambda c: c.use_cases.definitions.kpis.create(
            "support-bot", name="csat", description="Satisfaction", goal=4.0, kpi_type="likert5"
        ),
        method="POST",
        path=f"{DEFS}/support-bot/kpis",
        response=KPI,
        result_type=KpiResponse,
        body={"name": "csat", "description": "Satisfaction", "goal": 4.0, "kpi_type": "likert5"},
    ),
    "definitions.kpis.retrieve": dict(
        call=lambda c: c.use_cases.definitions.kpis.retrieve("csat", use_case_name="support-bot"),
        method="GET",
        path=f"{DEFS}/support-bot/kpis/csat",
        response=KPI,
        result_type=KpiResponse,
    ),
    "definitions.kpis.update": dict(
        call=lambda c: c.use_cases.definitions.kpis.update("csat", use_case_name="support-bot", goal=4.5),
        method="PUT",
        path=f"{DEFS}/support-bot/kpis/csat",
        response=KPI,
        result_type=KpiResponse,
        body={"goal": 4.5},
    ),
    "definitions.kpis.list": dict(
        call=lambda c: c.use_cases.definitions.kpis.list("support-bot", kpi_name="csat"),
        method="GET",
        path=f"{DEFS}/support-bot/kpis",
        response=page([KPI]),
        result_type=PAGES,
        query={"kpi_name": "csat"},
    ),
    "definitions.kpis.delete": dict(
        call=lambda c: c.use_cases.definitions.kpis.delete("csat", use_case_name="support-bot"),
        method="DELETE",
        path=f"{DEFS}/support-bot/kpis/csat",
        response=KPI,
        result_type=KpiResponse,
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_wire(api: Api, case: dict[str, Any]) -> None:
    check_wire(api, **case)


@pytest.mark.parametrize("score", [True, 4.5, None])
def test_instance_kpi_update_sends_accept_any_and_expects_no_body(
    api: Api, recorder: Any, score: object
) -> None:
    recorder.reply(httpx2.Response(204))
    result = api.call(
        lambda c: c.use_cases.kpis.update(
            "csat", use_case_name="support-bot", use_case_id="uc-1", score=score
        )
    )
    request = recorder.last
    assert result is None
    assert request.method == "PUT"
    assert request.url.raw_path == b"/api/v1/use_cases/instances/support-bot/uc-1/kpis/csat"
    assert request.headers["accept"] == "*/*"
    assert recorder.body() == {"score": score}


def test_instance_kpi_update_ignores_a_200_body(api: Api, recorder: Any) -> None:
    recorder.json({"unexpected": True})
    assert (
        api.call(lambda c: c.use_cases.kpis.update("k", use_case_name="u", use_case_id="i", score=1.0))
        is None
    )


def test_kpi_score_items(api: Api) -> None:
    api.recorder.json(page([SCORE, {"kpi_name": "other"}]))
    items = api.collect(lambda c: c.use_cases.kpis.list("uc-1", use_case_name="support-bot"))
    assert all(isinstance(item, KpiListResponse) for item in items)
    assert items[0].score == 4.0 and items[1].score is None


def test_definition_limit_config_parses(api: Api) -> None:
    api.recorder.json(DEFINITION)
    definition = api.call(lambda c: c.use_cases.definitions.retrieve("support-bot"))
    assert definition.limit_config is not None and definition.limit_config.max == 5.0
    assert definition.type_version == 1
