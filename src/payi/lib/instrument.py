"""Automatic Pay-i tracking of OpenAI, Anthropic and AWS Bedrock calls: ``payi_instrument``, ``track``,
``track_context`` and ``get_context``.

Two modes (``config={"proxy": ...}``, or per context with ``track_context(proxy=...)``):

- **ingest** (default): the provider is called directly; after each call (for a stream: when it ends) its usage
  is sent to ``POST /api/v1/ingest`` by a background thread, so the caller's result is never delayed. Events
  Pay-i cannot take are retried with backoff and, past a bounded queue or at exit, spooled to disk and sent
  later, also by the next process to start (see ``PayiInstrumentIngestRetryConfig``).
- **proxy**: the provider client points at Pay-i (``payi.lib.helpers.payi_openai_url()`` ...); the instrumentor
  only adds the context's ``xProxy-*`` headers, and redirects boto3 Bedrock requests through Pay-i after signing.

Instrumentation never breaks a provider call: when Pay-i is down or refuses an event, the provider's result is
returned unchanged and the failure is logged once per ``connection_error_logging_window``.

Example:
    >>> from payi import Payi
    >>> from payi.lib.instrument import payi_instrument, track_context, get_context
    >>> payi_instrument(Payi(api_key="...", base_url="http://127.0.0.1:8000"))  # doctest: +SKIP
    >>> with track_context(use_case_name="support_bot", user_id="u-42"):  # doctest: +SKIP
    ...     openai_client.chat.completions.create(model="gpt-4o-mini", messages=[...])
    >>> payi_flush(); get_context()["last_result"].cost.total.base  # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import functools
import importlib
import importlib.util
import inspect
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from contextvars import Token
from types import TracebackType
from typing import Any, TypeVar, cast, overload

from .._client import AsyncPayi, Payi
from ._config import (
    InstrumentSettings,
    PayiContext,
    PayiInstrumentAnthropicConfig,
    PayiInstrumentAwsBedrockConfig,
    PayiInstrumentConfig,
    PayiInstrumentHostMappingConfig,
    PayiInstrumentIngestRetryConfig,
    PayiInstrumentModelMapping,
    PayiInstrumentOfflineInstrumentationConfig,
    PayiInstrumentOpenAiAzureConfig,
    PayiInstrumentOpenAiConfig,
)
from ._context import Frame, current_frame, pop_frame, push_frame, resolve
from ._instrumentor import ACTIVE, Instrumentor
from .helpers import PayiCategories

__all__ = [
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
    "get_context",
    "payi_flush",
    "payi_instrument",
    "track",
    "track_context",
]

_logger = logging.getLogger("payi.instrument")
_F = TypeVar("_F", bound=Callable[..., Any])
_USE_CASE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")

# instruments value -> provider modules it turns on
_PROVIDERS: dict[str, tuple[str, ...]] = {
    PayiCategories.openai: ("openai",),
    PayiCategories.azure_openai: ("openai",),
    PayiCategories.azure: ("openai", "anthropic"),
    PayiCategories.anthropic: ("anthropic",),
    PayiCategories.aws_bedrock: ("bedrock",),
    PayiCategories.google_vertex: ("google_genai",),
}
# provider module -> the packages it needs (all of them must be installed, else it is skipped quietly)
_PACKAGES: dict[str, tuple[str, ...]] = {
    "openai": ("openai",),
    "anthropic": ("anthropic",),
    "bedrock": ("botocore", "boto3"),
    "google_genai": ("google.genai",),
}


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except ImportError:  # a dotted name whose parent package is missing
        return False


def _caller_use_case_name(filename: str) -> str | None:
    """The official default use case name (the caller's file name) made valid for Pay-i (letters, digits, ``._-``)."""
    name = os.path.basename(filename).replace(" ", "_").lower()
    if name.endswith(".py"):
        name = name[:-3]
    name = _USE_CASE_NAME_CHARS.sub("_", name)[:64]
    return name or None


def _pick_client(
    payi: Payi | AsyncPayi | Sequence[Payi | AsyncPayi] | None,
) -> tuple[Payi | None, AsyncPayi | None]:
    clients = list(payi) if isinstance(payi, list | tuple) else [payi]
    sync = next((c for c in clients if isinstance(c, Payi)), None)
    async_ = next((c for c in clients if isinstance(c, AsyncPayi)), None)
    return sync, async_


def _sync_twin(client: AsyncPayi) -> Payi:
    """The sender is a thread: an ``AsyncPayi`` is mirrored by a ``Payi`` with the same key, URL and headers."""
    return Payi(
        api_key=client.api_key,
        base_url=client.base_url,
        timeout=client.timeout,
        max_retries=client.max_retries,
        default_headers=dict(client._custom_headers),
    )


def _install(instruments: set[str] | None, logger: logging.Logger) -> None:
    wanted: list[str] = []
    if instruments is None or "*" in instruments:
        wanted = list(_PACKAGES)
    else:
        for category in instruments:
            providers = _PROVIDERS.get(category)
            if providers is None:
                logger.debug("Pay-i: instrumenting %s is not supported; ignored", category)
            wanted.extend(p for p in providers or () if p not in wanted)
    for provider in wanted:
        missing = [package for package in _PACKAGES[provider] if not _installed(package)]
        if missing:
            logger.debug("Pay-i: not instrumenting %s: %s not installed", provider, ", ".join(missing))
            continue
        try:
            importlib.import_module(f"payi.lib.providers.{provider}").install(logger)
        except ImportError as exc:  # a dependency of the provider SDK is missing: skipped, like the SDK itself
            logger.debug("Pay-i: not instrumenting %s: %s", provider, exc)
        except Exception:  # noqa: BLE001 - a provider we cannot patch is skipped, the others still work
            logger.warning("Pay-i: could not instrument %s", provider, exc_info=True)


def payi_instrument(
    payi: Payi | AsyncPayi | Sequence[Payi | AsyncPayi] | None = None,
    instruments: set[str] | None = None,
    log_prompt_and_response: bool = True,
    config: PayiInstrumentConfig | None = None,
    logger: logging.Logger | None = None,
) -> None:
    """Instrument the installed provider SDKs (OpenAI, Anthropic, boto3 Bedrock, Google GenAI) for Pay-i; only the first call acts.

    ``payi``: a ``Payi`` and/or ``AsyncPayi`` client (positionally or by keyword, alone or in a list); without one,
    a ``Payi()`` is built from ``PAYI_API_KEY`` / ``PAYI_BASE_URL`` (not needed in offline mode).
    ``instruments``: ``PayiCategories`` values to instrument (default: everything installed).
    ``log_prompt_and_response``: False keeps prompts and responses out of ingest events (and, in proxy mode,
    sends ``xProxy-Logging-Disable``). ``config``: see ``PayiInstrumentConfig``; by default a global context is
    opened whose use case name is the calling file's name.

    Example:
        >>> from payi import Payi
        >>> payi_instrument(Payi(), config={"use_case_name": "support_bot", "limit_ids": ["lim_1"]})  # doctest: +SKIP
    """
    log = logger or _logger
    filename = sys._getframe(1).f_code.co_filename
    with ACTIVE.lock:
        if ACTIVE.instrumentor is not None:
            log.debug("Pay-i: payi_instrument() was already called; ignoring this call from %s", filename)
            return
        settings = InstrumentSettings.parse(config, log)
        if settings.ignored:
            log.debug("Pay-i: configuration keys without effect here: %s", ", ".join(settings.ignored))
        client, async_client = _pick_client(payi)
        owns_client = client is None
        if client is None and async_client is not None:
            client = _sync_twin(async_client)
        if client is None and not settings.offline:
            try:
                client = Payi()
            except Exception:
                if not settings.proxy:
                    raise
                log.warning("Pay-i: no Pay-i client (PAYI_API_KEY unset); only proxy mode will work")
        if settings.offline:
            client = None
        log_flag = (
            False if (log_prompt_and_response is False or settings.log_prompt_and_response is False) else None
        )
        base = resolve(None, proxy=settings.proxy, log_prompt_and_response=log_flag)
        root: Frame | None = None
        if settings.global_instrumentation:
            defaults = dict(settings.context_defaults)
            defaults.setdefault("use_case_name", _caller_use_case_name(filename))
            root = resolve(base, **defaults)
        inst = Instrumentor(client, settings, log, root=root, base=base, owns_client=owns_client)
        _install(instruments, log)
        inst.install_context_propagation()
        ACTIVE.instrumentor = inst
    atexit.register(inst.shutdown)


class _TrackContext:
    """The context manager ``track_context`` returns (``with`` and ``async with``)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values
        self._tokens: list[Token[Frame | None]] = []

    def _enter(self) -> None:
        inst = ACTIVE.instrumentor
        parent = current_frame(inst.root if inst is not None else None)
        if parent is None and inst is not None:
            parent = inst.base
        self._tokens.append(push_frame(resolve(parent, **self._values)))

    def _exit(self) -> None:
        if self._tokens:
            pop_frame(self._tokens.pop())

    def __enter__(self) -> _TrackContext:
        self._enter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._exit()

    async def __aenter__(self) -> _TrackContext:
        self._enter()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._exit()


def track_context(
    *,
    limit_ids: list[str] | None = None,
    use_case_name: str | None = None,
    use_case_id: str | None = None,
    use_case_version: int | None = None,
    use_case_step: str | None = None,
    user_id: str | None = None,
    account_name: str | None = None,
    request_properties: Mapping[str, str | None] | None = None,
    use_case_properties: Mapping[str, str | None] | None = None,
    price_as_category: str | None = None,
    price_as_resource: str | None = None,
    resource_scope: str | None = None,
    proxy: bool | None = None,
    log_prompt_and_response: bool | None = None,
) -> _TrackContext:
    """A context manager: provider calls inside it are attributed to these values (nested by the rules of
    ``_context.resolve``: limit ids add up, a new use case name gets a new id, ``""`` / ``[]`` / ``{}`` clear).

    Example:
        >>> with track_context(use_case_name="checkout", limit_ids=["lim_1"], user_id="u-42"):
        ...     get_context()["user_id"]
        'u-42'
    """
    return _TrackContext(
        {
            "limit_ids": limit_ids,
            "use_case_name": use_case_name,
            "use_case_id": use_case_id,
            "use_case_version": use_case_version,
            "use_case_step": use_case_step,
            "user_id": user_id,
            "account_name": account_name,
            "request_properties": request_properties,
            "use_case_properties": use_case_properties,
            "price_as_category": price_as_category,
            "price_as_resource": price_as_resource,
            "resource_scope": resource_scope,
            "proxy": proxy,
            "log_prompt_and_response": log_prompt_and_response,
        }
    )


@overload
def track(func: _F, /) -> _F: ...


@overload
def track(
    func: None = None,
    /,
    *,
    limit_ids: list[str] | None = None,
    use_case_name: str | None = None,
    use_case_id: str | None = None,
    use_case_version: int | None = None,
    use_case_step: str | None = None,
    user_id: str | None = None,
    account_name: str | None = None,
    request_properties: Mapping[str, str | None] | None = None,
    use_case_properties: Mapping[str, str | None] | None = None,
    price_as_category: str | None = None,
    price_as_resource: str | None = None,
    resource_scope: str | None = None,
    log_prompt_and_response: bool | None = None,
    proxy: bool | None = None,
) -> Callable[[_F], _F]: ...


def track(func: Callable[..., Any] | None = None, /, **values: Any) -> Any:
    """Decorator: every call of the function (sync or ``async``) runs in ``track_context(**values)``.

    Example:
        >>> @track(use_case_name="summarize", user_id="u-1")
        ... def summarize() -> str | None:
        ...     return get_context().get("use_case_name")
        >>> summarize()
        'summarize'
    """

    def decorate(fn: _F) -> _F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_tracked(*args: Any, **kwargs: Any) -> Any:
                with track_context(**values):
                    return await fn(*args, **kwargs)

            return cast(_F, async_tracked)

        @functools.wraps(fn)
        def tracked(*args: Any, **kwargs: Any) -> Any:
            with track_context(**values):
                return fn(*args, **kwargs)

        return cast(_F, tracked)

    return decorate(func) if func is not None else decorate


def get_context() -> PayiContext:
    """The current context's values (only those set) and ``last_result``: the last ``xproxy_result`` from an
    ingest (or, in proxy mode, a proxied response), or the ``XproxyError`` of the last failure.

    In ingest mode results arrive in the background; call ``payi_flush()`` first to wait for them.

    Example:
        >>> with track_context(use_case_name="bot", limit_ids=["a"]):
        ...     sorted(k for k in get_context() if k != "last_result")
        ['limit_ids', 'log_prompt_and_response', 'proxy', 'use_case_id', 'use_case_name']
    """
    inst = ACTIVE.instrumentor
    frame = current_frame(inst.root if inst is not None else None)
    values: dict[str, Any] = frame.public() if frame is not None else {}
    if "log_prompt_and_response" not in values and frame is not None:
        values["log_prompt_and_response"] = True
    if inst is not None and inst.last_result is not None:
        values["last_result"] = inst.last_result
    return cast(PayiContext, values)


def payi_flush(timeout: float | None = 5.0) -> bool:
    """Wait until every ingest event so far has been delivered (or refused); False if some are still pending
    after ``timeout`` seconds (e.g. Pay-i is down: they stay queued, and are spooled at exit).

    Example:
        >>> payi_flush(timeout=1.0)
        True
    """
    inst = ACTIVE.instrumentor
    return True if inst is None else inst.flush(timeout)


def _uninstrument() -> None:
    """Tests only: deliver or spool what is pending and detach the instrumentor (the patches stay, inert)."""
    with ACTIVE.lock:
        inst, ACTIVE.instrumentor = ACTIVE.instrumentor, None
    if inst is not None:
        atexit.unregister(inst.shutdown)
        inst.shutdown()
