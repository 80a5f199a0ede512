"""The instrumentor: one per process, created by ``payi_instrument`` and found by every patched method.

Patching is process-wide and permanent (``wrapt`` replaces class attributes once); whether a patched method does
anything is decided per call by ``ACTIVE.instrumentor`` (``None``: pass straight through) and the current context
(none: pass straight through). This one registry is the only module-level mutable state of the instrumentation,
as in the official SDK.

Example:
    >>> ACTIVE.instrumentor is None  # before payi_instrument()
    True
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import wrapt

from .._client import Payi
from ..types.shared.xproxy_error import XproxyError
from ..types.shared.xproxy_result import XproxyResult
from ._config import InstrumentSettings, ModelMapping, host_of
from ._context import Frame, attribution_from_headers, current_frame, split_headers
from ._invoke import Adapter, Call, invoke_async, invoke_sync
from ._sender import ProblemLog, Sender
from .helpers import PayiHeaderNames, _resolve_payi_base_url, payi_aws_bedrock_url

__all__ = ["ACTIVE", "Instrumentor", "async_wrapper", "sync_wrapper", "wrap"]


class _Active:
    """Which instrumentor the patched methods report to, and which patches are installed."""

    def __init__(self) -> None:
        self.instrumentor: Instrumentor | None = None
        self.patched: set[str] = set()
        self.lock = threading.RLock()
        self.fork_hook = False

    def after_fork_in_child(self) -> None:
        """``os.fork`` keeps only the forking thread: give the child its own sender (and a lock nobody holds)."""
        self.lock = threading.RLock()
        inst = self.instrumentor
        if inst is not None:
            inst.problems = ProblemLog(inst.logger, inst.settings.error_log_window)
            if inst.sender is not None:
                inst.sender.restart_after_fork()


ACTIVE = _Active()


def wrap(module: str, name: str, wrapper: Callable[..., Any], logger: logging.Logger) -> bool:
    """Patch ``module.name`` with a ``wrapt`` function wrapper, once per process; False if it does not exist."""
    key = f"{module}:{name}"
    with ACTIVE.lock:
        if key in ACTIVE.patched:
            return True
        try:
            wrapt.wrap_function_wrapper(module, name, wrapper)
        except (ImportError, AttributeError) as exc:
            logger.debug("Pay-i: not instrumenting %s.%s: %s", module, name, exc)
            return False
        ACTIVE.patched.add(key)
        return True


def sync_wrapper(adapter: Adapter) -> Callable[..., Any]:
    """A ``wrapt`` wrapper running a synchronous provider method through ``invoke_sync``."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return invoke_sync(ACTIVE.instrumentor, adapter, wrapped, instance, args, kwargs)

    return wrapper


def async_wrapper(adapter: Adapter) -> Callable[..., Any]:
    """A ``wrapt`` wrapper running a coroutine provider method through ``invoke_async``."""

    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return await invoke_async(ACTIVE.instrumentor, adapter, wrapped, instance, args, kwargs)

    return wrapper


def _submit_with_context(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``ThreadPoolExecutor.submit`` that runs the function in a copy of the submitter's context."""
    if ACTIVE.instrumentor is None or not args:
        return wrapped(*args, **kwargs)
    context = contextvars.copy_context()
    return wrapped(context.run, *args, **kwargs)


class Instrumentor:
    """Settings, the global context, the sender and the last result; see ``payi.lib.instrument``."""

    def __init__(
        self,
        client: Payi | None,
        settings: InstrumentSettings,
        logger: logging.Logger,
        root: Frame | None,
        base: Frame | None = None,
        owns_client: bool = False,
    ) -> None:
        self.settings = settings
        self.logger = logger
        self.root = root  # the global context (None: calls outside any track are not instrumented)
        self.base = base or root  # what a top-level track_context inherits (proxy and logging defaults)
        self.client = client
        self._owns_client = owns_client  # built by payi_instrument (from the environment or an AsyncPayi)
        self._last_result: Any = None
        self.problems = ProblemLog(logger, settings.error_log_window)
        self.sender: Sender | None = None
        if client is not None or settings.offline:
            self.sender = Sender(client, settings, logger, self._set_result)
        self._closed = False
        payi_base = str(client.base_url) if client is not None else _resolve_payi_base_url(None)
        self._proxy_prefix = payi_base.rstrip("/") + "/api/v1/proxy/"
        self._proxy_urls: dict[int, tuple[Any, bool]] = {}  # provider base URL object -> is Pay-i's proxy

    # ------------------------------------------------------------------------------ context and results

    def current(self) -> Frame | None:
        return current_frame(self.root)

    def _set_result(self, result: XproxyResult | XproxyError | Mapping[str, Any]) -> None:
        self._last_result = result

    @property
    def last_result(self) -> XproxyResult | XproxyError | None:
        """The last ``xproxy_result`` (or the error), converted from the raw proxy dict on first read."""
        result = self._last_result
        if isinstance(result, Mapping):
            try:
                result = XproxyResult.model_validate(dict(result))
            except Exception:  # noqa: BLE001 - a malformed result is reported as such
                result = XproxyError(code="invalid_json", message="unreadable xproxy_result")
            self._last_result = result
        return result  # type: ignore[no-any-return]

    def record_proxy_result(self, adapter: Adapter, result: Any) -> None:
        try:
            raw = adapter.proxy_result(result)
        except Exception:  # noqa: BLE001
            return
        if isinstance(raw, Mapping):
            self._last_result = raw

    def record_proxy_error(self, exc: BaseException) -> None:
        body = getattr(exc, "body", None)
        if isinstance(body, Mapping):
            error = body.get("xproxy_error")
            if isinstance(error, Mapping):
                self._last_result = XproxyError(code=error.get("code"), message=error.get("message"))

    # ------------------------------------------------------------------------------ calls

    def prepare(
        self, frame: Frame, adapter: Adapter, instance: Any, kwargs: dict[str, Any]
    ) -> tuple[Call | None, dict[str, Any]]:
        """Apply the context to a call's arguments; returns the ``Call`` to record (``None`` in proxy mode).

        A client whose base URL is Pay-i's proxy is in proxy mode whatever the context says: the proxy records the
        call, so ingesting it too would only send a duplicate.
        """
        proxy = frame.proxy or (adapter.supports_headers and self._through_proxy(instance))
        caller = kwargs.get("extra_headers") if adapter.supports_headers else None
        provider_headers, payi_headers = split_headers(frame, caller, proxy)
        if proxy:
            if adapter.supports_headers and (payi_headers or caller is not None):
                kwargs["extra_headers"] = {**(provider_headers or {}), **payi_headers}
            return None, kwargs
        if caller is not None:
            kwargs["extra_headers"] = provider_headers
        attribution = (
            frame.attribution() if payi_headers is frame.headers else attribution_from_headers(payi_headers)
        )
        call = Call(self, adapter, kwargs, attribution, provider_headers)
        adapter.start(call, instance, kwargs)
        return call, kwargs

    def _through_proxy(self, instance: Any) -> bool:
        base_url = getattr(getattr(instance, "_client", None), "base_url", None)
        if base_url is None:
            return False
        cached = self._proxy_urls.get(id(base_url))
        if cached is None or cached[0] is not base_url:
            if len(self._proxy_urls) > 256:
                self._proxy_urls.clear()
            cached = self._proxy_urls[id(base_url)] = (base_url, str(base_url).startswith(self._proxy_prefix))
        return cached[1]

    def submit(self, call: Call) -> None:
        if self.sender is not None:
            self.sender.submit(call)
        else:
            self.problems.report("no Pay-i client is configured: ingest events are dropped")

    def internal_error(self, where: str) -> None:
        self.problems.report(f"internal error while {where}; the provider call is unaffected", exc_info=True)

    def safely(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001
            self.internal_error(getattr(fn, "__name__", "recording a call"))

    def find_mapping(
        self, mappings: Sequence[ModelMapping], model: str | None, provider_uri: str | None
    ) -> ModelMapping | None:
        if not mappings:
            return None
        return ModelMapping.find(mappings, model, host_of(provider_uri))

    def host_category(self, provider_uri: str | None) -> str | None:
        if not self.settings.host_mappings or not provider_uri:
            return None
        host = host_of(provider_uri)
        return self.settings.host_mappings.get(host) if host else None

    # ------------------------------------------------------------------------------ Bedrock proxy redirect

    def bedrock_redirect(self, request: Any, frame: Frame) -> None:
        """Send a signed boto3 request to Pay-i's Bedrock proxy, keeping path, query, body and signature."""
        url: str = request.url
        scheme, _, rest = url.partition("://")
        slash = rest.find("/")
        host, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
        if self.client is not None:
            base, api_key = str(self.client.base_url).rstrip("/"), self.client.api_key
        else:
            base, api_key = None, os.environ.get("PAYI_API_KEY", "")
        request.url = f"{payi_aws_bedrock_url(base)}{path}"
        headers = {
            PayiHeaderNames.api_key: api_key,
            PayiHeaderNames.provider_base_uri: f"{scheme}://{host}",
            **frame.proxy_headers,
        }
        for name, value in headers.items():
            if name in request.headers:
                del request.headers[name]
            request.headers[name] = value

    # ------------------------------------------------------------------------------ lifecycle

    def install_context_propagation(self) -> None:
        wrap("concurrent.futures", "ThreadPoolExecutor.submit", _submit_with_context, self.logger)
        if not ACTIVE.fork_hook and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=ACTIVE.after_fork_in_child)
            ACTIVE.fork_hook = True

    def flush(self, timeout: float | None) -> bool:
        return True if self.sender is None else self.sender.flush(timeout)

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.sender is not None:
            self.sender.shutdown()
        if self._owns_client and self.client is not None:
            self.client.close()
