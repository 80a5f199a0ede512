"""The public surface matches the official SDK (payi 0.1.0a183): exported names, types and resource methods.

The official wheel cannot be imported next to ours (both are ``payi``), so its surface is written down here,
read from ``payi/__init__.py``, ``payi/types/__init__.py`` and ``payi/resources/`` of the wheel.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

import payi
import payi.lib.helpers
import payi.types

OFFICIAL_ALL = {
    "types",
    "__version__",
    "__title__",
    "NoneType",
    "Transport",
    "ProxiesTypes",
    "NotGiven",
    "NOT_GIVEN",
    "not_given",
    "Omit",
    "omit",
    "PayiError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "APIConnectionError",
    "APIResponseValidationError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
    "Timeout",
    "RequestOptions",
    "Client",
    "AsyncClient",
    "Stream",
    "AsyncStream",
    "Payi",
    "AsyncPayi",
    "file_from_path",
    "BaseModel",
    "DEFAULT_TIMEOUT",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_CONNECTION_LIMITS",
    "DefaultHttpxClient",
    "DefaultAsyncHttpxClient",
    "DefaultAioHttpClient",
}

OFFICIAL_TYPES = {
    "Limit",
    "APIError",
    "IngestUnits",
    "XproxyError",
    "XproxyResult",
    "PropertiesRequest",
    "PropertiesResponse",
    "PayICommonModelsBudgetManagementCostDetailsBase",
    "PayICommonModelsBudgetManagementCreateLimitBase",
    "CostData",
    "CostDetails",
    "RequestsData",
    "LimitResponse",
    "RequestResult",
    "IngestResponse",
    "TotalCostData",
    "DefaultResponse",
    "CategoryResponse",
    "LimitListParams",
    "IngestBulkParams",
    "LimitResetParams",
    "IngestUnitsParams",
    "LimitCreateParams",
    "LimitUpdateParams",
    "BulkIngestResponse",
    "CategoryListParams",
    "LimitHistoryResponse",
    "CategoryDeleteResponse",
    "FunctionCallInfoParam",
    "BulkIngestRequestParam",
    "CategoryResourceResponse",
    "UseCaseInstanceResponse",
    "CategoryResourcePriceUnits",
    "CategoryListResourcesParams",
    "CategoryDeleteResourceResponse",
    "CategoryResourceMappedResource",
    "CategoryResourcePriceUnitsParam",
    "PayICommonModelsAPIRouterHeaderInfoParam",
}

# Module paths the official instrumentation imports from (ours must keep them importable).
OFFICIAL_MODULE_NAMES = {
    "payi.types.ingest_units_params": {"IngestUnits", "IngestUnitsParams", "ProviderResponseFunctionCall"},
    "payi.types.shared": {"XproxyResult", "XproxyError", "APIError", "IngestUnits"},
    "payi.types.shared.xproxy_result": {"XproxyResult", "Cost", "Limits", "UnknownUnits"},
    "payi.types.shared.xproxy_error": {"XproxyError"},
    "payi.types.shared_params.ingest_units": {"IngestUnits"},
    "payi.types.pay_i_common_models_api_router_header_info_param": {
        "PayICommonModelsAPIRouterHeaderInfoParam"
    },
    "payi.types.ingest_response": {"IngestResponse"},
    "payi.types.use_cases": {
        "KpiListResponse",
        "UseCaseDefinitionResponse",
        "KpiListParams",
        "KpiUpdateParams",
        "DefinitionListParams",
        "PropertyUpdateParams",
        "DefinitionCreateParams",
        "DefinitionUpdateParams",
    },
    "payi.types.use_cases.definitions": {
        "KpiListParams",
        "KpiCreateParams",
        "KpiListResponse",
        "KpiUpdateParams",
        "KpiCreateResponse",
        "KpiDeleteResponse",
        "KpiUpdateResponse",
        "KpiRetrieveResponse",
        "LimitConfigCreateParams",
    },
    "payi.types.limits": {"PropertyUpdateParams", "PropertyUpdateResponse"},
    "payi.types.categories": {"ResourceListParams", "ResourceCreateParams"},
    "payi.types.requests.request_id": {"PropertyUpdateParams"},
    "payi.types.requests.response_id": {"PropertyUpdateParams"},
    "payi._types": {"SequenceNotStr", "NotGiven", "Omit", "NoneType"},
    "payi.pagination": {"SyncCursorPage", "AsyncCursorPage"},
    "payi.lib.helpers": {
        "PayiHeaderNames",
        "PayiCategories",
        "PayiPropertyNames",
        "PayiResourceScopes",
        "create_headers",
        "create_limit_header_from_ids",
        "payi_openai_url",
        "payi_azure_openai_url",
        "payi_anthropic_url",
        "payi_azure_anthropic_url",
        "payi_aws_bedrock_url",
        "increment_kpi_score",
        "increment_kpi_score_async",
        "_compact_json",
        "_set_attr_safe",
        "PAYI_BASE_URL",
    },
}

_X = ["extra_headers", "extra_query", "extra_body", "timeout"]
# resource path -> (positional parameters, keyword-only parameters), as in the official sync resources.
OFFICIAL_METHODS: dict[str, tuple[list[str], list[str]]] = {
    "categories.delete": (["category"], _X),
    "categories.delete_resource": (["resource"], ["category", *_X]),
    "categories.list": ([], ["active", "cursor", "limit", "sort_ascending", *_X]),
    "categories.list_resources": (["category"], ["active", "cursor", "limit", "sort_ascending", *_X]),
    "categories.resources.create": (
        ["resource"],
        [
            "category",
            "units",
            "max_input_units",
            "max_output_units",
            "max_total_units",
            "start_timestamp",
            *_X,
        ],
    ),
    "categories.resources.delete": (["resource_id"], ["category", "resource", *_X]),
    "categories.resources.list": (
        ["resource"],
        ["category", "active", "cursor", "limit", "sort_ascending", *_X],
    ),
    "categories.resources.retrieve": (["resource_id"], ["category", "resource", *_X]),
    "ingest.bulk": ([], ["events", *_X]),
    "ingest.units": (
        [],
        [
            "category",
            "units",
            "end_to_end_latency_ms",
            "event_timestamp",
            "http_status_code",
            "properties",
            "provider_request_headers",
            "provider_request_json",
            "provider_request_reasoning_json",
            "provider_response_function_calls",
            "provider_response_headers",
            "provider_response_id",
            "provider_response_json",
            "provider_uri",
            "resource",
            "time_to_first_completion_token_ms",
            "time_to_first_token_ms",
            "use_case_properties",
            "limit_ids",
            "disable_logging",
            "request_tags",
            "use_case_id",
            "use_case_name",
            "use_case_step",
            "use_case_version",
            "user_id",
            "resource_scope",
            "account_name",
            *_X,
        ],
    ),
    "limits.create": ([], ["limit_name", "max", "limit_id", "limit_type", "properties", "threshold", *_X]),
    "limits.delete": (["limit_id"], _X),
    "limits.list": ([], ["cursor", "limit", "limit_name", "sort_ascending", *_X]),
    "limits.properties.update": (["limit_id"], ["properties", *_X]),
    "limits.reset": (["limit_id"], ["reset_date", *_X]),
    "limits.retrieve": (["limit_id"], _X),
    "limits.update": (["limit_id"], ["limit_name", "max", *_X]),
    "requests.request_id.properties.update": (["request_id"], ["properties", *_X]),
    "requests.request_id.result.retrieve": (["request_id"], _X),
    "requests.response_id.properties.update": (["provider_response_id"], ["category", "properties", *_X]),
    "requests.response_id.result.retrieve": (["provider_response_id"], ["category", *_X]),
    "use_cases.create": (["use_case_name"], _X),
    "use_cases.definitions.create": ([], ["description", "name", "limit_config", "logging_enabled", *_X]),
    "use_cases.definitions.delete": (["use_case_name"], _X),
    "use_cases.definitions.kpis.create": (
        ["use_case_name"],
        ["description", "goal", "kpi_type", "name", *_X],
    ),
    "use_cases.definitions.kpis.delete": (["kpi_name"], ["use_case_name", *_X]),
    "use_cases.definitions.kpis.list": (
        ["use_case_name"],
        ["cursor", "kpi_name", "limit", "sort_ascending", *_X],
    ),
    "use_cases.definitions.kpis.retrieve": (["kpi_name"], ["use_case_name", *_X]),
    "use_cases.definitions.kpis.update": (["kpi_name"], ["use_case_name", "description", "goal", *_X]),
    "use_cases.definitions.limit_config.create": (
        ["use_case_name"],
        ["max", "limit_type", "properties", "threshold", *_X],
    ),
    "use_cases.definitions.limit_config.delete": (["use_case_name"], _X),
    "use_cases.definitions.list": ([], ["cursor", "limit", "sort_ascending", "use_case_name", *_X]),
    "use_cases.definitions.retrieve": (["use_case_name"], _X),
    "use_cases.definitions.update": (["use_case_name"], ["description", "logging_enabled", *_X]),
    "use_cases.definitions.version.increment": (["use_case_name"], _X),
    "use_cases.delete": (["use_case_id"], ["use_case_name", *_X]),
    "use_cases.kpis.list": (
        ["use_case_id"],
        ["use_case_name", "cursor", "kpi_name", "limit", "sort_ascending", *_X],
    ),
    "use_cases.kpis.update": (["kpi_name"], ["use_case_name", "use_case_id", "score", *_X]),
    "use_cases.properties.update": (["use_case_id"], ["use_case_name", "properties", *_X]),
    "use_cases.retrieve": (["use_case_id"], ["use_case_name", *_X]),
}

OFFICIAL_CLIENT_OPTIONS = [
    "api_key",
    "base_url",
    "timeout",
    "max_retries",
    "default_headers",
    "default_query",
    "http_client",
    "_strict_response_validation",
]
OFFICIAL_COPY_OPTIONS = [
    "api_key",
    "base_url",
    "timeout",
    "http_client",
    "max_retries",
    "default_headers",
    "set_default_headers",
    "default_query",
    "set_default_query",
    "_extra_kwargs",
]


def resolve(root: Any, path: str) -> Any:
    target = root
    for part in path.split("."):
        target = getattr(target, part)
    return target


def parameters(function: Any) -> tuple[list[str], list[str]]:
    params = list(inspect.signature(function).parameters.values())
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keyword = [p.name for p in params if p.kind is p.KEYWORD_ONLY]
    return positional, keyword


@pytest.fixture(scope="module")
def clients() -> Any:
    sync_client, async_client = payi.Payi(api_key="k"), payi.AsyncPayi(api_key="k")
    yield sync_client, async_client
    sync_client.close()
    asyncio.run(async_client.close())


def test_all_is_sorted_and_matches_the_official_names() -> None:
    assert payi.__all__ == sorted(payi.__all__)
    assert set(payi.__all__) == OFFICIAL_ALL
    for name in payi.__all__:
        assert hasattr(payi, name), name


def test_types_include_every_official_name() -> None:
    assert OFFICIAL_TYPES <= set(dir(payi.types))


@pytest.mark.parametrize("module", sorted(OFFICIAL_MODULE_NAMES))
def test_official_module_paths_are_importable(module: str) -> None:
    imported = __import__(module, fromlist=["*"])
    missing = {name for name in OFFICIAL_MODULE_NAMES[module] if not hasattr(imported, name)}
    assert not missing


@pytest.mark.parametrize("path", sorted(OFFICIAL_METHODS))
def test_resource_methods_match(clients: Any, path: str) -> None:
    sync_client, async_client = clients
    expected = OFFICIAL_METHODS[path]
    sync_method, async_method = resolve(sync_client, path), resolve(async_client, path)
    assert parameters(sync_method) == expected
    assert parameters(async_method) == expected
    returns_pages = path.endswith((".list", ".list_resources"))
    assert inspect.iscoroutinefunction(async_method) is not returns_pages
    assert sync_method.__doc__ and "Example" in sync_method.__doc__
    assert async_method.__doc__ and "Example" in async_method.__doc__


def test_client_and_copy_options() -> None:
    for client_class in (payi.Payi, payi.AsyncPayi):
        assert parameters(client_class.__init__)[1] == OFFICIAL_CLIENT_OPTIONS
        assert parameters(client_class.copy)[1] == OFFICIAL_COPY_OPTIONS
        assert client_class.with_options is client_class.copy


def test_admin_methods(clients: Any) -> None:
    sync_client, async_client = clients
    expected = {
        "admin.applications.create": ([], ["name", "description", "store_prompts", *_X]),
        "admin.applications.list": ([], _X),
        "admin.applications.retrieve": (["app_id"], _X),
        "admin.applications.update": (["app_id"], ["description", "store_prompts", *_X]),
        "admin.applications.delete": (["app_id"], _X),
        "admin.applications.regenerate_key": (["app_id"], ["slot", "expires_at", *_X]),
        "admin.keys.list": ([], ["app_id", "include_revoked", *_X]),
        "admin.keys.revoke": (["key_id"], _X),
        "admin.keys.set_expiry": (["key_id", "expires_at"], _X),
        "admin.org_keys.create": ([], ["label", "expires_at", *_X]),
        "admin.org_keys.revoke": (["key_id"], _X),
    }
    for path, signature in expected.items():
        assert parameters(resolve(sync_client, path)) == signature, path
        assert parameters(resolve(async_client, path)) == signature, path


def test_every_public_name_has_a_docstring_with_an_example() -> None:
    modules = [payi, payi.lib.helpers]
    for module in modules:
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__.startswith("payi"):
                assert obj.__doc__ and "Example" in obj.__doc__, f"{module.__name__}.{name}"
    for name in OFFICIAL_TYPES:
        obj = getattr(payi.types, name)
        if inspect.isclass(obj) and issubclass(obj, payi.BaseModel):
            assert obj.__doc__ and "Example" in obj.__doc__, name
