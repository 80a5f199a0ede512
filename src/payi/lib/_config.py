"""``payi_instrument`` configuration: the public ``PayiInstrumentConfig`` shapes and their parsed form.

The TypedDicts mirror the official SDK's keys so its configurations run unchanged; ``InstrumentSettings`` is what
the instrumentor reads (defaults applied, mappings normalised). Keys that change nothing here are accepted and
reported once at debug level.

Example:
    >>> settings = InstrumentSettings.parse({"proxy": True, "connection_error_logging_window": 30})
    >>> settings.proxy, settings.error_log_window
    (True, 30.0)
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import httpx2

from ..types.shared.xproxy_error import XproxyError
from ..types.shared.xproxy_result import XproxyResult

__all__ = [
    "InstrumentSettings",
    "ModelMapping",
    "PayiContext",
    "PayiInstrumentAnthropicConfig",
    "PayiInstrumentAwsBedrockConfig",
    "PayiInstrumentConfig",
    "PayiInstrumentHostMappingConfig",
    "PayiInstrumentIngestRetryConfig",
    "PayiInstrumentModelMapping",
    "PayiInstrumentOfflineInstrumentationConfig",
    "PayiInstrumentOpenAiAzureConfig",
    "PayiInstrumentOpenAiConfig",
    "default_spool_root",
    "host_of",
]


class PayiInstrumentModelMapping(TypedDict, total=False):
    """Price a model as another resource or category. Example: ``{"model": "my-deploy", "price_as_resource": "gpt-4o"}``."""

    model: str
    host: str | httpx2.URL | None
    price_as_category: str | None
    price_as_resource: str | None
    resource_scope: str | None


class PayiInstrumentOpenAiAzureConfig(TypedDict, total=False):
    """Deprecated home of Azure model mappings. Example: ``{"model_mappings": [...]}``."""

    model_mappings: Sequence[PayiInstrumentModelMapping]


class PayiInstrumentOpenAiConfig(TypedDict, total=False):
    """OpenAI options. Example: ``{"model_mappings": [{"model": "d1", "price_as_resource": "gpt-4o"}]}``."""

    model_mappings: Sequence[PayiInstrumentModelMapping]
    azure: PayiInstrumentOpenAiAzureConfig


class PayiInstrumentAnthropicConfig(TypedDict, total=False):
    """Anthropic options. Example: ``{"model_mappings": [...]}``."""

    model_mappings: Sequence[PayiInstrumentModelMapping]


class PayiInstrumentAwsBedrockConfig(TypedDict, total=False):
    """Bedrock options. Example: ``{"guardrail_trace": False}``.

    ``add_streaming_xproxy_result`` and ``model_config`` are accepted and ignored (results arrive in the
    background here; Cohere embed prompt tokens are not counted client-side).
    """

    guardrail_trace: bool | None
    add_streaming_xproxy_result: bool | None
    model_mappings: Sequence[PayiInstrumentModelMapping]
    model_config: Mapping[str, Any] | None


class PayiInstrumentOfflineInstrumentationConfig(TypedDict, total=False):
    """Offline mode: no network; the events are written as a JSON array at exit. Example: ``{"file_name": "x.json"}``."""

    file_name: str


class PayiInstrumentHostMappingConfig(TypedDict, total=False):
    """Category override for calls to one provider host. Example: ``{"price_as_category": "system.databricks.aws"}``."""

    price_as_category: str | None


class PayiInstrumentIngestRetryConfig(TypedDict, total=False):
    """Delivery of ingest events that could not be sent at once.

    Official keys: ``queue_enabled`` (False: failed events go straight to the spool), ``queue_max_size`` (events
    held in memory before they spill to the spool; 0 = our default of 1000), ``queue_interval`` (seconds before
    the first retry; doubled after each failure). ``max_inline_retries`` / ``inline_retry_initial_delay`` are
    accepted and ignored: nothing is retried on the caller's thread.

    Our additions: ``queue_max_interval`` (cap of the retry backoff, default 60 s), ``spool_enabled`` (default
    True), ``spool_dir`` (default ``$PAYI_SPOOL_DIR`` or ``~/.cache/payi/spool``), ``exit_timeout`` (seconds
    spent delivering at interpreter exit before spooling the rest, default 2).

    Example:
        >>> retry: PayiInstrumentIngestRetryConfig = {"queue_interval": 1.0, "spool_dir": "/var/lib/app/payi-spool"}
    """

    max_inline_retries: int | None
    inline_retry_initial_delay: float | None
    queue_enabled: bool | None
    queue_max_size: int | None
    queue_interval: float | None
    queue_max_interval: float | None
    spool_enabled: bool | None
    spool_dir: str | os.PathLike[str] | None
    exit_timeout: float | None


class PayiInstrumentConfig(TypedDict, total=False):
    """The ``config`` of ``payi_instrument``.

    Example:
        >>> config: PayiInstrumentConfig = {"proxy": False, "use_case_name": "support_bot", "limit_ids": ["lim_1"]}
    """

    proxy: bool
    global_instrumentation: bool
    instrument_inline_data: bool
    connection_error_logging_window: int
    limit_ids: list[str] | None
    use_case_name: str | None
    use_case_id: str | None
    use_case_version: int | None
    use_case_step: str | None
    use_case_properties: dict[str, str | None] | None
    user_id: str | None
    account_name: str | None
    request_properties: dict[str, str | None] | None
    price_as_category: str | None
    price_as_resource: str | None
    resource_scope: str | None
    log_prompt_and_response: bool | None
    host_mappings: Mapping[str | httpx2.URL, PayiInstrumentHostMappingConfig] | None
    aws_config: PayiInstrumentAwsBedrockConfig | None
    azure_openai_config: PayiInstrumentOpenAiAzureConfig | None
    openai_config: PayiInstrumentOpenAiConfig | None
    anthropic_config: PayiInstrumentAnthropicConfig | None
    offline_instrumentation: PayiInstrumentOfflineInstrumentationConfig | None
    ingest_retry: PayiInstrumentIngestRetryConfig | None


class PayiContext(TypedDict, total=False):
    """What ``get_context()`` returns: the current tracking values and the last ingest result.

    Example:
        >>> ctx: PayiContext = {"use_case_name": "bot", "limit_ids": ["lim_1"]}
    """

    use_case_name: str | None
    use_case_id: str | None
    use_case_version: int | None
    use_case_step: str | None
    use_case_properties: dict[str, str | None] | None
    limit_ids: list[str] | None
    user_id: str | None
    account_name: str | None
    request_properties: dict[str, str | None] | None
    price_as_category: str | None
    price_as_resource: str | None
    resource_scope: str | None
    log_prompt_and_response: bool | None
    proxy: bool | None
    last_result: XproxyResult | XproxyError | None


CONTEXT_KEYS = (
    "limit_ids",
    "use_case_name",
    "use_case_id",
    "use_case_version",
    "use_case_step",
    "use_case_properties",
    "user_id",
    "account_name",
    "request_properties",
    "price_as_category",
    "price_as_resource",
    "resource_scope",
)

_IGNORED_KEYS = ("instrument_inline_data",)
_KNOWN_KEYS = frozenset(
    (
        *CONTEXT_KEYS,
        *_IGNORED_KEYS,
        "proxy",
        "global_instrumentation",
        "connection_error_logging_window",
        "log_prompt_and_response",
        "host_mappings",
        "aws_config",
        "azure_openai_config",
        "openai_config",
        "anthropic_config",
        "offline_instrumentation",
        "ingest_retry",
    )
)


def host_of(url: str | httpx2.URL | None) -> str | None:
    """The host of a URL or bare host name (``None`` when there is none). Example: ``host_of("api.x.com")``."""
    if url is None:
        return None
    try:
        if isinstance(url, str):
            url = httpx2.URL(url if url.startswith(("http://", "https://")) else f"https://{url}")
        return url.host or None
    except Exception:  # noqa: BLE001 - a malformed mapping is skipped, not fatal
        return None


@dataclass(frozen=True, slots=True)
class ModelMapping:
    """One normalised model mapping entry."""

    model: str
    host: str | None
    price_as_category: str | None
    price_as_resource: str | None
    resource_scope: str | None

    @staticmethod
    def parse_all(entries: Sequence[PayiInstrumentModelMapping] | None) -> tuple[ModelMapping, ...]:
        out: list[ModelMapping] = []
        for entry in entries or ():
            model = entry.get("model")
            category, resource = entry.get("price_as_category"), entry.get("price_as_resource")
            if not model or not (category or resource):
                continue
            out.append(
                ModelMapping(
                    model, host_of(entry.get("host")), category, resource, entry.get("resource_scope")
                )
            )
        return tuple(out)

    @staticmethod
    def find(mappings: Sequence[ModelMapping], model: str | None, host: str | None) -> ModelMapping | None:
        if not model:
            return None
        for entry in mappings:
            if entry.model == model and (entry.host is None or entry.host == host):
                return entry
        return None


def default_spool_root() -> Path:
    """``$PAYI_SPOOL_DIR``, else ``$XDG_CACHE_HOME/payi/spool``, else ``~/.cache/payi/spool``."""
    explicit = os.environ.get("PAYI_SPOOL_DIR")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "payi" / "spool"


def destination_dir(root: Path, base_url: str, api_key: str) -> Path:
    """The spool sub-directory of one destination: events are only ever re-sent with the key that made them."""
    digest = hashlib.sha256(f"{base_url.rstrip('/')}\n{api_key}".encode()).hexdigest()[:20]
    return root / digest


@dataclass(slots=True)
class InstrumentSettings:
    """``PayiInstrumentConfig`` with defaults applied."""

    proxy: bool = False
    global_instrumentation: bool = True
    error_log_window: float = 60.0
    context_defaults: dict[str, Any] = field(default_factory=dict)
    log_prompt_and_response: bool | None = None
    host_mappings: dict[str, str] = field(default_factory=dict)
    openai_mappings: tuple[ModelMapping, ...] = ()
    anthropic_mappings: tuple[ModelMapping, ...] = ()
    bedrock_mappings: tuple[ModelMapping, ...] = ()
    guardrail_trace: bool = True
    offline_file: str | None = None
    offline: bool = False
    queue_enabled: bool = True
    queue_max_size: int = 1000
    retry_interval: float = 5.0
    retry_max_interval: float = 60.0
    spool_enabled: bool = True
    spool_root: Path = field(default_factory=default_spool_root)
    exit_timeout: float = 2.0
    ignored: list[str] = field(default_factory=list)

    @classmethod
    def parse(
        cls, config: Mapping[str, Any] | None, logger: logging.Logger | None = None
    ) -> InstrumentSettings:
        """Validate and normalise ``config``; unknown or inert keys are listed in ``ignored``."""
        cfg: Mapping[str, Any] = config or {}
        s = cls()
        s.proxy = bool(cfg.get("proxy", False))
        s.global_instrumentation = bool(cfg.get("global_instrumentation", True))
        window = cfg.get("connection_error_logging_window", 60)
        if not isinstance(window, int | float) or window < 0:
            raise ValueError("connection_error_logging_window must be a non-negative number")
        s.error_log_window = float(window)
        s.context_defaults = {key: cfg[key] for key in CONTEXT_KEYS if key in cfg}
        log_flag = cfg.get("log_prompt_and_response")
        s.log_prompt_and_response = None if log_flag is None else bool(log_flag)
        for host, mapping in (cfg.get("host_mappings") or {}).items():
            name = host_of(host)
            category = (mapping or {}).get("price_as_category")
            if name and category:
                s.host_mappings[name] = category
            elif logger is not None:
                logger.warning("Pay-i: skipping invalid host mapping %r", host)
        openai_cfg = cfg.get("openai_config") or {}
        s.openai_mappings = (
            ModelMapping.parse_all(openai_cfg.get("model_mappings"))
            + ModelMapping.parse_all((openai_cfg.get("azure") or {}).get("model_mappings"))
            + ModelMapping.parse_all((cfg.get("azure_openai_config") or {}).get("model_mappings"))
        )
        s.anthropic_mappings = ModelMapping.parse_all(
            (cfg.get("anthropic_config") or {}).get("model_mappings")
        )
        aws = cfg.get("aws_config") or {}
        s.bedrock_mappings = ModelMapping.parse_all(aws.get("model_mappings"))
        s.guardrail_trace = aws.get("guardrail_trace") is not False
        s.ignored.extend(k for k in ("add_streaming_xproxy_result", "model_config") if aws.get(k))
        offline = cfg.get("offline_instrumentation")
        if offline is not None:
            s.offline = True
            s.offline_file = offline.get("file_name") or None
        s._parse_retry(cfg.get("ingest_retry") or {})
        s.ignored.extend(k for k in _IGNORED_KEYS if k in cfg)
        s.ignored.extend(sorted(k for k in cfg if k not in _KNOWN_KEYS))
        return s

    def _parse_retry(self, retry: Mapping[str, Any]) -> None:
        self.queue_enabled = retry.get("queue_enabled") is not False
        size = retry.get("queue_max_size")
        if size is not None:
            if size < 0:
                raise ValueError("queue_max_size must be a non-negative integer")
            if size > 0:
                self.queue_max_size = int(size)
        interval = retry.get("queue_interval")
        if interval is not None:
            if interval <= 0:
                raise ValueError("queue_interval must be a positive number")
            self.retry_interval = float(interval)
        cap = retry.get("queue_max_interval")
        self.retry_max_interval = max(self.retry_interval, float(cap) if cap else 60.0)
        self.spool_enabled = retry.get("spool_enabled") is not False
        if retry.get("spool_dir"):
            self.spool_root = Path(retry["spool_dir"])
        if retry.get("exit_timeout") is not None:
            self.exit_timeout = max(0.0, float(retry["exit_timeout"]))
        self.ignored.extend(
            k for k in ("max_inline_retries", "inline_retry_initial_delay") if retry.get(k) is not None
        )
