"""Helpers for calling providers through Pay-i: proxy URLs, ``xProxy-*`` headers, constants, KPI scores.

Example:
    >>> from payi.lib.helpers import create_headers, payi_openai_url
    >>> payi_openai_url("http://localhost:8080")
    'http://localhost:8080/api/v1/proxy/openai/v1'
    >>> create_headers(limit_ids=["l1", " l2 "], user_id="u1", log_prompt_and_response=False)
    {'xProxy-Limit-IDs': 'l1,l2', 'xProxy-User-ID': 'u1', 'xProxy-Logging-Disable': 'True'}
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from .._client import AsyncPayi, Payi
from .._constants import DEFAULT_BASE_URL

__all__ = [
    "PAYI_BASE_URL",
    "PayiCategories",
    "PayiHeaderNames",
    "PayiPropertyNames",
    "PayiResourceScopes",
    "create_headers",
    "create_limit_header_from_ids",
    "increment_kpi_score",
    "increment_kpi_score_async",
    "payi_anthropic_url",
    "payi_aws_bedrock_url",
    "payi_azure_anthropic_url",
    "payi_azure_openai_url",
    "payi_openai_url",
]

PAYI_BASE_URL = DEFAULT_BASE_URL
"""The default Pay-i base URL. Example: ``payi_openai_url(PAYI_BASE_URL)``."""

logger = logging.getLogger("payi")


class PayiHeaderNames:
    """Names of the ``xProxy-*`` request headers.

    Example:
        >>> PayiHeaderNames.limit_ids
        'xProxy-Limit-IDs'
    """

    limit_ids: str = "xProxy-Limit-IDs"
    request_properties: str = "xProxy-Request-Properties"
    use_case_id: str = "xProxy-UseCase-ID"
    use_case_name: str = "xProxy-UseCase-Name"
    use_case_version: str = "xProxy-UseCase-Version"
    use_case_step: str = "xProxy-UseCase-Step"
    use_case_properties: str = "xProxy-UseCase-Properties"
    user_id: str = "xProxy-User-ID"
    account_name: str = "xProxy-Account-Name"
    price_as_category: str = "xProxy-PriceAs-Category"
    price_as_resource: str = "xProxy-PriceAs-Resource"
    provider_base_uri: str = "xProxy-Provider-BaseUri"
    resource_scope: str = "xProxy-Resource-Scope"
    api_key: str = "xProxy-Api-Key"
    logging_disable: str = "xProxy-Logging-Disable"


class PayiCategories:
    """The managed ``system.*`` categories.

    Example:
        >>> PayiCategories.aws_bedrock
        'system.aws.bedrock'
    """

    anthropic: str = "system.anthropic"
    openai: str = "system.openai"
    azure_openai: str = "system.azureopenai"
    azure: str = "system.azure"
    aws_bedrock: str = "system.aws.bedrock"
    google_vertex: str = "system.google.vertex"
    databricks_azure: str = "system.databricks.azure"
    databricks_aws: str = "system.databricks.aws"
    databricks_google: str = "system.databricks.google"


class PayiPropertyNames:
    """Reserved ``system.*`` request property names.

    Example:
        >>> PayiPropertyNames.failure
        'system.failure'
    """

    failure: str = "system.failure"
    failure_description: str = "system.failure.description"

    account_name: str = "system.account_name"
    use_case_step: str = "system.use_case_step"
    user_id: str = "system.user_id"

    aws_bedrock_guardrail_id: str = "system.aws.bedrock.guardrail.id"
    aws_bedrock_guardrail_version: str = "system.aws.bedrock.guardrail.version"
    aws_bedrock_guardrail_action: str = "system.aws.bedrock.guardrail.action"


class PayiResourceScopes:
    """Values of ``xProxy-Resource-Scope`` (optionally suffixed ``.<zone>`` or ``.<region>``).

    Example:
        >>> f"{PayiResourceScopes.datazone_scope}.us"
        'datazone.us'
    """

    global_scope: str = "global"
    datazone_scope: str = "datazone"
    region_scope: str = "region"


def create_limit_header_from_ids(*, limit_ids: list[str]) -> dict[str, str]:
    """The ``xProxy-Limit-IDs`` header for these ids (trimmed, empty ones dropped); ``{}`` when none remain.

    Example:
        >>> create_limit_header_from_ids(limit_ids=["a", " b", ""])
        {'xProxy-Limit-IDs': 'a,b'}
    """
    if not isinstance(limit_ids, list):
        raise TypeError("limit_ids must be a list")
    valid = [limit_id.strip() for limit_id in limit_ids if isinstance(limit_id, str) and limit_id.strip()]
    return {PayiHeaderNames.limit_ids: ",".join(valid)} if valid else {}


def _compact_json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def create_headers(
    *,
    limit_ids: list[str] | None = None,
    user_id: str | None = None,
    account_name: str | None = None,
    use_case_id: str | None = None,
    use_case_name: str | None = None,
    use_case_version: int | None = None,
    use_case_step: str | None = None,
    use_case_properties: dict[str, str] | None = None,
    request_properties: dict[str, str] | None = None,
    price_as_category: str | None = None,
    price_as_resource: str | None = None,
    resource_scope: str | None = None,
    log_prompt_and_response: bool | None = None,
) -> dict[str, str]:
    """The ``xProxy-*`` headers for a proxied provider call (properties as raw compact JSON).

    Empty values send nothing; ``log_prompt_and_response=False`` adds ``xProxy-Logging-Disable: True``.

    Example:
        >>> create_headers(use_case_name="bot", use_case_version=2, request_properties={"team": "a"})
        {'xProxy-UseCase-Name': 'bot', 'xProxy-UseCase-Version': '2', 'xProxy-Request-Properties': '{"team":"a"}'}
    """
    headers: dict[str, str] = {}
    if limit_ids:
        headers.update(create_limit_header_from_ids(limit_ids=limit_ids))
    if user_id:
        headers[PayiHeaderNames.user_id] = user_id
    if account_name:
        headers[PayiHeaderNames.account_name] = account_name
    if use_case_id:
        headers[PayiHeaderNames.use_case_id] = use_case_id
    if use_case_name:
        headers[PayiHeaderNames.use_case_name] = use_case_name
    if use_case_version:
        headers[PayiHeaderNames.use_case_version] = str(use_case_version)
    if use_case_properties:
        headers[PayiHeaderNames.use_case_properties] = _compact_json(use_case_properties)
    if request_properties:
        headers[PayiHeaderNames.request_properties] = _compact_json(request_properties)
    if use_case_step:
        headers[PayiHeaderNames.use_case_step] = use_case_step
    if price_as_category:
        headers[PayiHeaderNames.price_as_category] = price_as_category
    if price_as_resource:
        headers[PayiHeaderNames.price_as_resource] = price_as_resource
    if resource_scope:
        headers[PayiHeaderNames.resource_scope] = resource_scope
    if log_prompt_and_response is False:
        headers[PayiHeaderNames.logging_disable] = "True"
    return headers


def _resolve_payi_base_url(payi_base_url: str | None) -> str:
    """The argument, else ``PAYI_BASE_URL``, else the default (empty values count as unset), without trailing ``/``.

    Example:
        >>> _resolve_payi_base_url("https://payi.example.com/")   # the official SDK would build ".../"+"/api/..."
        'https://payi.example.com'
    """
    return (payi_base_url or os.environ.get("PAYI_BASE_URL") or PAYI_BASE_URL).rstrip("/")


def payi_openai_url(payi_base_url: str | None = None) -> str:
    """The OpenAI proxy URL, for ``OpenAI(base_url=...)``.

    Example:
        >>> payi_openai_url("https://payi.example.com")
        'https://payi.example.com/api/v1/proxy/openai/v1'
    """
    return _resolve_payi_base_url(payi_base_url) + "/api/v1/proxy/openai/v1"


def payi_azure_openai_url(payi_base_url: str | None = None) -> str:
    """The Azure OpenAI proxy URL, for ``AzureOpenAI(azure_endpoint=...)``.

    Example:
        >>> payi_azure_openai_url("https://payi.example.com")
        'https://payi.example.com/api/v1/proxy/azure.openai'
    """
    return _resolve_payi_base_url(payi_base_url) + "/api/v1/proxy/azure.openai"


def payi_anthropic_url(payi_base_url: str | None = None) -> str:
    """The Anthropic proxy URL, for ``Anthropic(base_url=...)``.

    Example:
        >>> payi_anthropic_url("https://payi.example.com")
        'https://payi.example.com/api/v1/proxy/anthropic'
    """
    return _resolve_payi_base_url(payi_base_url) + "/api/v1/proxy/anthropic"


def payi_azure_anthropic_url(payi_base_url: str | None = None) -> str:
    """The Anthropic-on-Azure (Foundry) proxy URL.

    Example:
        >>> payi_azure_anthropic_url("https://payi.example.com")
        'https://payi.example.com/api/v1/proxy/azure.anthropic'
    """
    return _resolve_payi_base_url(payi_base_url) + "/api/v1/proxy/azure.anthropic"


def payi_aws_bedrock_url(payi_base_url: str | None = None) -> str:
    """The AWS Bedrock proxy URL (boto3 requests are redirected to it by the instrumentor).

    Example:
        >>> payi_aws_bedrock_url("https://payi.example.com")
        'https://payi.example.com/api/v1/proxy/aws.bedrock'
    """
    return _resolve_payi_base_url(payi_base_url) + "/api/v1/proxy/aws.bedrock"


def _set_attr_safe(o: Any, attr_name: str, attr_value: Any) -> None:
    """Attach ``attr_value`` to a provider response object (pydantic model, plain object or dict); never raises."""
    try:
        if getattr(o, "__pydantic_private__", None) is not None:
            o.__pydantic_private__[attr_name] = attr_value
        if hasattr(o, "__dict__"):
            object.__setattr__(o, attr_name, attr_value)  # bypasses pydantic validation on purpose
        elif isinstance(o, dict):
            o[attr_name] = attr_value
        else:
            setattr(o, attr_name, attr_value)
    except Exception:  # noqa: BLE001, S110 (best effort by design)
        pass


def increment_kpi_score(
    payi: Payi, kpi_name: str, use_case_name: str, use_case_id: str, increment: int = 1
) -> bool:
    """Add ``increment`` to an instance's KPI score (read, add, write back); False (and a debug log) on failure.

    Example:
        >>> # increment_kpi_score(client, "tickets_closed", "support-bot", use_case_id)
    """
    try:
        current = 0
        for kpi in payi.use_cases.kpis.list(
            use_case_id=use_case_id, use_case_name=use_case_name, kpi_name=kpi_name
        ):
            if kpi.kpi_name == kpi_name:
                current = int(kpi.score) if kpi.score is not None else 0
                break
        payi.use_cases.kpis.update(
            kpi_name=kpi_name,
            use_case_name=use_case_name,
            use_case_id=use_case_id,
            score=float(current + increment),
        )
        return True
    except Exception as exc:  # noqa: BLE001 (the helper reports failure as False, like the official one)
        logger.debug(
            "Failed to increment KPI %s, use_case_name %s, use_case_id %s: %s",
            kpi_name,
            use_case_name,
            use_case_id,
            exc,
        )
        return False


async def increment_kpi_score_async(
    payi: AsyncPayi, kpi_name: str, use_case_name: str, use_case_id: str, increment: int = 1
) -> bool:
    """The async :func:`increment_kpi_score`.

    Example:
        >>> # await increment_kpi_score_async(async_client, "tickets_closed", "support-bot", use_case_id)
    """
    try:
        current = 0
        async for kpi in payi.use_cases.kpis.list(
            use_case_id=use_case_id, use_case_name=use_case_name, kpi_name=kpi_name
        ):
            if kpi.kpi_name == kpi_name:
                current = int(kpi.score) if kpi.score is not None else 0
                break
        await payi.use_cases.kpis.update(
            kpi_name=kpi_name,
            use_case_name=use_case_name,
            use_case_id=use_case_id,
            score=float(current + increment),
        )
        return True
    except Exception as exc:  # noqa: BLE001 (the helper reports failure as False, like the official one)
        logger.debug(
            "Failed to increment KPI %s, use_case_name %s, use_case_id %s: %s",
            kpi_name,
            use_case_name,
            use_case_id,
            exc,
        )
        return False
