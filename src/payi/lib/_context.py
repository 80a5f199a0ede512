"""Tracking contexts: how ``track`` / ``track_context`` values nest, and how they become ``xProxy-*`` headers.

A context is an immutable ``Frame`` (every value already resolved against its parent). The innermost frame of the
running thread or asyncio task lives in a ``ContextVar``, so asyncio tasks inherit it natively and the instrumentor
copies it into ``ThreadPoolExecutor.submit``; the global context (``payi_instrument``'s defaults) is the root every
thread falls back to.

Rules (spec 4.2): ``limit_ids`` are the union with the parent's (``[]`` clears); a new ``use_case_name`` gets a new
``use_case_id`` (unless one is given) and does not inherit the parent use case's version, step or properties;
``""`` clears a string (``use_case_name=""`` clears every ``use_case_*`` value); property dicts merge with the
child's keys winning (``{}`` clears); ``proxy`` and ``log_prompt_and_response`` are inherited.

Example:
    >>> root = resolve(None, use_case_name="bot", limit_ids=["a"])
    >>> child = resolve(root, limit_ids=["b"], user_id="u1")
    >>> child.limit_ids, child.use_case_name, child.use_case_id == root.use_case_id
    (('a', 'b'), 'bot', True)
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

from .helpers import PayiHeaderNames

__all__ = [
    "Attribution",
    "Frame",
    "attribution_from_headers",
    "current_frame",
    "pop_frame",
    "push_frame",
    "resolve",
    "split_headers",
]

Properties = dict[str, str | None]

_H = PayiHeaderNames
_LIMIT_IDS = _H.limit_ids.lower()
_UC_NAME = _H.use_case_name.lower()
_UC_ID = _H.use_case_id.lower()
_UC_VERSION = _H.use_case_version.lower()
_UC_STEP = _H.use_case_step.lower()
_UC_PROPS = _H.use_case_properties.lower()
_REQ_PROPS = _H.request_properties.lower()
_USER = _H.user_id.lower()
_ACCOUNT = _H.account_name.lower()
_PRICE_CAT = _H.price_as_category.lower()
_PRICE_RES = _H.price_as_resource.lower()
_SCOPE = _H.resource_scope.lower()
_LOG_OFF = _H.logging_disable.lower()
_USE_CASE_DETAILS = (_UC_ID, _UC_VERSION, _UC_STEP)
_PROPERTY_HEADERS = (_REQ_PROPS, _UC_PROPS)


def _compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass(frozen=True, slots=True)
class Attribution:
    """What an ingest event is attributed to (from a frame, or from ``xProxy-*`` headers the caller passed)."""

    limit_ids: tuple[str, ...] = ()
    use_case_name: str | None = None
    use_case_id: str | None = None
    use_case_version: int | None = None
    use_case_step: str | None = None
    user_id: str | None = None
    account_name: str | None = None
    resource_scope: str | None = None
    price_as_category: str | None = None
    price_as_resource: str | None = None
    request_properties: Properties | None = None
    use_case_properties: Properties | None = None
    log_prompt_and_response: bool = True


@dataclass(frozen=True, slots=True)
class Frame:
    """One resolved tracking context. Its header forms are computed once, when the context is entered."""

    proxy: bool = False
    log_prompt_and_response: bool | None = None
    limit_ids: tuple[str, ...] = ()
    use_case_name: str | None = None
    use_case_id: str | None = None
    use_case_version: int | None = None
    use_case_step: str | None = None
    use_case_properties: Properties | None = None
    user_id: str | None = None
    account_name: str | None = None
    request_properties: Properties | None = None
    price_as_category: str | None = None
    price_as_resource: str | None = None
    resource_scope: str | None = None
    headers: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    proxy_headers: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    _cache: dict[str, Attribution] = field(default_factory=dict, compare=False, repr=False)

    def attribution(self) -> Attribution:
        """This frame as ingest attribution (computed once per frame)."""
        cached = self._cache.get("attribution")
        if cached is None:
            cached = self._cache["attribution"] = self._attribution()
        return cached

    def _attribution(self) -> Attribution:
        return Attribution(
            limit_ids=self.limit_ids,
            use_case_name=self.use_case_name,
            use_case_id=self.use_case_id,
            use_case_version=self.use_case_version,
            use_case_step=self.use_case_step,
            user_id=self.user_id,
            account_name=self.account_name,
            resource_scope=self.resource_scope,
            price_as_category=self.price_as_category,
            price_as_resource=self.price_as_resource,
            request_properties=self.request_properties,
            use_case_properties=self.use_case_properties,
            log_prompt_and_response=self.log_prompt_and_response is not False,
        )

    def public(self) -> dict[str, Any]:
        """The non-empty values, as ``get_context()`` shows them (fresh copies)."""
        values: dict[str, Any] = {
            "proxy": self.proxy,
            "log_prompt_and_response": self.log_prompt_and_response,
            "limit_ids": list(self.limit_ids) or None,
            "use_case_name": self.use_case_name,
            "use_case_id": self.use_case_id,
            "use_case_version": self.use_case_version,
            "use_case_step": self.use_case_step,
            "use_case_properties": dict(self.use_case_properties) if self.use_case_properties else None,
            "user_id": self.user_id,
            "account_name": self.account_name,
            "request_properties": dict(self.request_properties) if self.request_properties else None,
            "price_as_category": self.price_as_category,
            "price_as_resource": self.price_as_resource,
            "resource_scope": self.resource_scope,
        }
        return {key: value for key, value in values.items() if value is not None}


def _text(value: str | None, parent: str | None) -> str | None:
    if value is None:
        return parent
    return value or None  # "" clears


def _props(value: Mapping[str, str | None] | None, parent: Properties | None) -> Properties | None:
    if value is None:
        return dict(parent) if parent else None
    if not value:
        return None  # {} clears
    merged = dict(parent or {})
    merged.update({str(k): None if v is None else str(v) for k, v in value.items()})
    return merged


def _limits(value: Any, parent: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return parent
    if isinstance(value, str):
        value = [value]
    ids = [str(v).strip() for v in value if v is not None and str(v).strip()]
    if not ids:
        return ()  # [] clears
    return tuple(dict.fromkeys([*parent, *ids]))  # ordered union


def resolve(
    parent: Frame | None,
    *,
    proxy: bool | None = None,
    log_prompt_and_response: bool | None = None,
    limit_ids: Any = None,
    use_case_name: str | None = None,
    use_case_id: str | None = None,
    use_case_version: int | None = None,
    use_case_step: str | None = None,
    use_case_properties: Mapping[str, str | None] | None = None,
    user_id: str | None = None,
    account_name: str | None = None,
    request_properties: Mapping[str, str | None] | None = None,
    price_as_category: str | None = None,
    price_as_resource: str | None = None,
    resource_scope: str | None = None,
) -> Frame:
    """A child context of ``parent`` (``None``: a root) with the given values applied by the rules above."""
    p = parent or Frame()
    name, uc_id, version, step, uc_props = None, None, None, None, None
    if use_case_name is None:
        if p.use_case_name:
            name = p.use_case_name
            uc_id = _text(use_case_id, p.use_case_id)
            version = use_case_version if use_case_version is not None else p.use_case_version
            step = _text(use_case_step, p.use_case_step)
            uc_props = _props(use_case_properties, p.use_case_properties)
    elif use_case_name:
        name = use_case_name
        if use_case_name == p.use_case_name:
            uc_id = _text(use_case_id, p.use_case_id)
            version = use_case_version if use_case_version is not None else p.use_case_version
            step = _text(use_case_step, p.use_case_step)
            uc_props = _props(use_case_properties, p.use_case_properties)
        else:  # a different use case: a new instance, nothing inherited from the parent's use case
            uc_id = use_case_id or str(uuid.uuid4())
            version = use_case_version
            step = use_case_step or None
            uc_props = _props(use_case_properties, None)
    frame = Frame(
        proxy=p.proxy if proxy is None else bool(proxy),
        log_prompt_and_response=p.log_prompt_and_response
        if log_prompt_and_response is None
        else bool(log_prompt_and_response),
        limit_ids=_limits(limit_ids, p.limit_ids),
        use_case_name=name,
        use_case_id=uc_id,
        use_case_version=version,
        use_case_step=step,
        use_case_properties=uc_props,
        user_id=_text(user_id, p.user_id),
        account_name=_text(account_name, p.account_name),
        request_properties=_props(request_properties, p.request_properties),
        price_as_category=_text(price_as_category, p.price_as_category),
        price_as_resource=_text(price_as_resource, p.price_as_resource),
        resource_scope=_text(resource_scope, p.resource_scope),
    )
    _fill_headers(frame)
    return frame


def _fill_headers(frame: Frame) -> None:
    """The frame's ``xProxy-*`` headers: ``headers`` with raw JSON properties, ``proxy_headers`` base64-encoded."""
    h: dict[str, str] = {}
    if frame.limit_ids:
        h[_H.limit_ids] = ",".join(frame.limit_ids)
    if frame.use_case_name:
        h[_H.use_case_name] = frame.use_case_name
        if frame.use_case_id:
            h[_H.use_case_id] = frame.use_case_id
        if frame.use_case_version is not None:
            h[_H.use_case_version] = str(frame.use_case_version)
        if frame.use_case_step:
            h[_H.use_case_step] = frame.use_case_step
    for name, value in (
        (_H.user_id, frame.user_id),
        (_H.account_name, frame.account_name),
        (_H.price_as_category, frame.price_as_category),
        (_H.price_as_resource, frame.price_as_resource),
        (_H.resource_scope, frame.resource_scope),
    ):
        if value:
            h[name] = value
    if frame.log_prompt_and_response is False:
        h[_H.logging_disable] = "True"
    proxy_h = dict(h)
    for name, props in (
        (_H.request_properties, frame.request_properties),
        (_H.use_case_properties, frame.use_case_properties),
    ):
        if props:
            h[name] = _compact(props)
            proxy_h[name] = _b64(h[name])
    frame.headers.update(h)
    frame.proxy_headers.update(proxy_h)


# ------------------------------------------------------------------------------------------- the stack

_CURRENT: ContextVar[Frame | None] = ContextVar("payi_context", default=None)


def current_frame(root: Frame | None) -> Frame | None:
    """The innermost context of this thread or task, else ``root`` (the global context, if any)."""
    frame = _CURRENT.get()
    return root if frame is None else frame


def push_frame(frame: Frame) -> Token[Frame | None]:
    return _CURRENT.set(frame)


def pop_frame(token: Token[Frame | None]) -> None:
    try:
        _CURRENT.reset(token)
    except ValueError:  # exited in another context (e.g. a generator resumed elsewhere): drop to the parent
        _CURRENT.set(None)


# ------------------------------------------------------------------------------------------- headers


def _is_payi(name: str) -> bool:
    return name[:7].lower() == "xproxy-"


def _merge(
    frame_headers: Mapping[str, str], caller: Mapping[str, Any], proxy: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """``(provider headers, Pay-i headers)``: the caller's ``xProxy-*`` values win over the frame's, an empty value
    removes the header, and naming a use case drops the frame's use case id, version and step."""
    provider: dict[str, Any] = {}
    given: dict[str, tuple[str, str]] = {}
    for name, value in caller.items():
        if _is_payi(name) and (isinstance(value, str) or value is None):
            given[name.lower()] = (name, value or "")
        else:
            provider[name] = value
    payi: dict[str, str] = {}
    for name, value in frame_headers.items():
        key = name.lower()
        if key in given or (key in _USE_CASE_DETAILS and _UC_NAME in given):
            continue
        payi[name] = value
    blank_use_case = _UC_NAME in given and not given[_UC_NAME][1]
    for key, (name, value) in given.items():
        if not value or (blank_use_case and key in _USE_CASE_DETAILS):
            continue
        if proxy and key in _PROPERTY_HEADERS and value.lstrip().startswith("{"):
            value = _b64(value)
        payi[name] = value
    return provider, payi


def split_headers(
    frame: Frame, caller: Mapping[str, Any] | None, proxy: bool
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """Split a call's ``extra_headers`` against the context.

    Returns ``(provider headers, Pay-i headers)``: the headers the caller meant for the provider (``None`` when
    the caller passed none) and the effective ``xProxy-*`` headers (properties base64-encoded in proxy mode).
    """
    base = frame.proxy_headers if proxy else frame.headers
    if not caller:
        return (None if caller is None else {}), base
    if not any(_is_payi(name) for name in caller):
        return dict(caller), base
    return _merge(base, caller, proxy)


def _parse_props(value: str | None) -> Properties | None:
    if not value:
        return None
    text = value.strip()
    if not text.startswith("{"):
        try:
            text = base64.b64decode(text).decode()
        except Exception:  # noqa: BLE001 - not base64 either: ignore the header
            return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): None if v is None else str(v) for k, v in data.items()}


def attribution_from_headers(headers: Mapping[str, str]) -> Attribution:
    """Ingest attribution from effective ``xProxy-*`` headers (those ``split_headers`` returned)."""
    by_key = {name.lower(): value for name, value in headers.items()}
    version = by_key.get(_UC_VERSION)
    try:
        use_case_version = int(version) if version else None
    except ValueError:
        use_case_version = None
    limit_ids = by_key.get(_LIMIT_IDS)
    log_off = by_key.get(_LOG_OFF, "").strip().lower() in ("true", "1", "yes")
    return Attribution(
        limit_ids=tuple(i.strip() for i in limit_ids.split(",") if i.strip()) if limit_ids else (),
        use_case_name=by_key.get(_UC_NAME) or None,
        use_case_id=by_key.get(_UC_ID) or None,
        use_case_version=use_case_version,
        use_case_step=by_key.get(_UC_STEP) or None,
        user_id=by_key.get(_USER) or None,
        account_name=by_key.get(_ACCOUNT) or None,
        resource_scope=by_key.get(_SCOPE) or None,
        price_as_category=by_key.get(_PRICE_CAT) or None,
        price_as_resource=by_key.get(_PRICE_RES) or None,
        request_properties=_parse_props(by_key.get(_REQ_PROPS)),
        use_case_properties=_parse_props(by_key.get(_UC_PROPS)),
        log_prompt_and_response=not log_off,
    )
