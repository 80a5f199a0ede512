"""``payi.lib.helpers``: proxy URLs, headers, constants, KPI increments."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

import payi
from payi.lib.helpers import (
    PayiCategories,
    PayiHeaderNames,
    PayiPropertyNames,
    PayiResourceScopes,
    _set_attr_safe,
    create_headers,
    create_limit_header_from_ids,
    increment_kpi_score,
    increment_kpi_score_async,
    payi_anthropic_url,
    payi_aws_bedrock_url,
    payi_azure_anthropic_url,
    payi_azure_openai_url,
    payi_openai_url,
)

from .wire import BASE_URL, Recorder, page

URLS = [
    (payi_openai_url, "/api/v1/proxy/openai/v1"),
    (payi_azure_openai_url, "/api/v1/proxy/azure.openai"),
    (payi_anthropic_url, "/api/v1/proxy/anthropic"),
    (payi_azure_anthropic_url, "/api/v1/proxy/azure.anthropic"),
    (payi_aws_bedrock_url, "/api/v1/proxy/aws.bedrock"),
]


@pytest.mark.parametrize(("build", "suffix"), URLS)
def test_proxy_urls(build: Any, suffix: str, clean_env: pytest.MonkeyPatch) -> None:
    assert build() == "https://api.pay-i.com" + suffix
    clean_env.setenv("PAYI_BASE_URL", "http://env.test")
    assert build() == "http://env.test" + suffix
    assert build("http://arg.test") == "http://arg.test" + suffix
    assert build(payi_base_url="http://kw.test") == "http://kw.test" + suffix
    clean_env.setenv("PAYI_BASE_URL", "http://env.test/payi//")  # a trailing slash never doubles
    assert build() == "http://env.test/payi" + suffix
    assert build("http://arg.test/") == "http://arg.test" + suffix


def test_create_headers_all_fields() -> None:
    headers = create_headers(
        limit_ids=["l1", " ", "l2 "],
        user_id="u1",
        account_name="acme",
        use_case_id="uc-1",
        use_case_name="bot",
        use_case_version=2,
        use_case_step="triage",
        use_case_properties={"tier": "gold"},
        request_properties={"team": "a", "n": "1"},
        price_as_category="acme.openai",
        price_as_resource="gpt-4o-2024-05-13",
        resource_scope="datazone.us",
        log_prompt_and_response=False,
    )
    assert headers == {
        "xProxy-Limit-IDs": "l1,l2",
        "xProxy-User-ID": "u1",
        "xProxy-Account-Name": "acme",
        "xProxy-UseCase-ID": "uc-1",
        "xProxy-UseCase-Name": "bot",
        "xProxy-UseCase-Version": "2",
        "xProxy-UseCase-Properties": '{"tier":"gold"}',
        "xProxy-Request-Properties": '{"team":"a","n":"1"}',
        "xProxy-UseCase-Step": "triage",
        "xProxy-PriceAs-Category": "acme.openai",
        "xProxy-PriceAs-Resource": "gpt-4o-2024-05-13",
        "xProxy-Resource-Scope": "datazone.us",
        "xProxy-Logging-Disable": "True",
    }
    assert json.loads(headers["xProxy-Request-Properties"]) == {"team": "a", "n": "1"}


def test_create_headers_empty() -> None:
    assert create_headers() == {}
    assert create_headers(limit_ids=[], user_id="", use_case_version=0, log_prompt_and_response=True) == {}


def test_create_limit_header_from_ids() -> None:
    assert create_limit_header_from_ids(limit_ids=["a", " b ", "", 3]) == {"xProxy-Limit-IDs": "a,b"}  # type: ignore[list-item]
    assert create_limit_header_from_ids(limit_ids=[" "]) == {}
    with pytest.raises(TypeError):
        create_limit_header_from_ids(limit_ids="a")  # type: ignore[arg-type]


def public(constants: type) -> dict[str, str]:
    return {name: value for name, value in vars(constants).items() if not name.startswith("_")}


def test_constants_match_the_official_values() -> None:
    assert public(PayiHeaderNames) == {
        "limit_ids": "xProxy-Limit-IDs",
        "request_properties": "xProxy-Request-Properties",
        "use_case_id": "xProxy-UseCase-ID",
        "use_case_name": "xProxy-UseCase-Name",
        "use_case_version": "xProxy-UseCase-Version",
        "use_case_step": "xProxy-UseCase-Step",
        "use_case_properties": "xProxy-UseCase-Properties",
        "user_id": "xProxy-User-ID",
        "account_name": "xProxy-Account-Name",
        "price_as_category": "xProxy-PriceAs-Category",
        "price_as_resource": "xProxy-PriceAs-Resource",
        "provider_base_uri": "xProxy-Provider-BaseUri",
        "resource_scope": "xProxy-Resource-Scope",
        "api_key": "xProxy-Api-Key",
        "logging_disable": "xProxy-Logging-Disable",
    }
    assert public(PayiCategories) == {
        "anthropic": "system.anthropic",
        "openai": "system.openai",
        "azure_openai": "system.azureopenai",
        "azure": "system.azure",
        "aws_bedrock": "system.aws.bedrock",
        "google_vertex": "system.google.vertex",
        "databricks_azure": "system.databricks.azure",
        "databricks_aws": "system.databricks.aws",
        "databricks_google": "system.databricks.google",
    }
    assert public(PayiPropertyNames) == {
        "failure": "system.failure",
        "failure_description": "system.failure.description",
        "account_name": "system.account_name",
        "use_case_step": "system.use_case_step",
        "user_id": "system.user_id",
        "aws_bedrock_guardrail_id": "system.aws.bedrock.guardrail.id",
        "aws_bedrock_guardrail_version": "system.aws.bedrock.guardrail.version",
        "aws_bedrock_guardrail_action": "system.aws.bedrock.guardrail.action",
    }
    assert (
        PayiResourceScopes.global_scope,
        PayiResourceScopes.datazone_scope,
        PayiResourceScopes.region_scope,
    ) == ("global", "datazone", "region")


def test_set_attr_safe() -> None:
    class Plain:
        pass

    plain = Plain()
    _set_attr_safe(plain, "xproxy_result", {"a": 1})
    assert plain.xproxy_result == {"a": 1}  # type: ignore[attr-defined]
    data: dict[str, Any] = {}
    _set_attr_safe(data, "k", 1)
    assert data == {"k": 1}
    _set_attr_safe(3, "k", 1)  # never raises


def kpi_client(recorder: Recorder) -> payi.Payi:
    return payi.Payi(
        api_key="k",
        base_url=BASE_URL,
        http_client=httpx2.Client(transport=httpx2.MockTransport(recorder)),
        _strict_response_validation=True,
    )


def test_increment_kpi_score(recorder: Recorder, clean_env: pytest.MonkeyPatch) -> None:
    recorder.json(page([{"kpi_name": "other", "score": 9}, {"kpi_name": "closed", "score": 4.0}]))
    recorder.reply(httpx2.Response(204))
    with kpi_client(recorder) as client:
        assert increment_kpi_score(client, "closed", "bot", "uc-1", increment=2) is True
    listing, update = recorder.requests
    assert listing.url.raw_path == b"/api/v1/use_cases/instances/bot/uc-1/kpis?kpi_name=closed"
    assert update.method == "PUT"
    assert update.url.raw_path == b"/api/v1/use_cases/instances/bot/uc-1/kpis/closed"
    assert json.loads(update.content) == {"score": 6.0}


def test_increment_kpi_score_from_nothing_and_failure(
    recorder: Recorder, clean_env: pytest.MonkeyPatch
) -> None:
    recorder.json(page([]))
    recorder.reply(httpx2.Response(204))
    with kpi_client(recorder) as client:
        assert increment_kpi_score(client, "closed", "bot", "uc-1") is True
        assert json.loads(recorder.last.content) == {"score": 1.0}
        recorder.json({"statusCode": 404, "message": "Not Found"}, status=404)
        assert increment_kpi_score(client, "closed", "bot", "uc-1") is False


async def test_increment_kpi_score_async(recorder: Recorder, clean_env: pytest.MonkeyPatch) -> None:
    recorder.json(page([{"kpi_name": "closed", "score": 1.0}], "next"))
    recorder.reply(httpx2.Response(204))
    transport = httpx2.MockTransport(recorder)
    async with payi.AsyncPayi(
        api_key="k", base_url=BASE_URL, http_client=httpx2.AsyncClient(transport=transport)
    ) as c:
        assert await increment_kpi_score_async(c, "closed", "bot", "uc-1") is True
        assert json.loads(recorder.last.content) == {"score": 2.0}
        recorder.reply(httpx2.ConnectError("down"))
        c.max_retries = 0
        assert await increment_kpi_score_async(c, "closed", "bot", "uc-1") is False
