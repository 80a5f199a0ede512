"""Reading attribution from ``xProxy-*`` headers, shared by ingest and the proxy, with Pay-i's error codes."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from .. import jsonio
from ..errors import api_error
from ..usecases.service import USE_CASE_NAME
from .event import Attribution

TAG = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_LIMIT_IDS = 50
MAX_TEXT = 200
MAX_VERSION = 1_000_000


_PARSED_LIMIT_IDS: dict[str, tuple[str, ...]] = {}  # header value -> its ids (calls repeat a few values)
_PARSED_LIMIT_IDS_MAX = 4096


def parse_limit_ids(value: str | None) -> list[str]:
    if not value:
        return []
    known = _PARSED_LIMIT_IDS.get(value)
    if known is not None:
        return list(known)
    ids = check_limit_ids([part.strip() for part in value.split(",") if part.strip()])
    if len(_PARSED_LIMIT_IDS) >= _PARSED_LIMIT_IDS_MAX:
        _PARSED_LIMIT_IDS.clear()
    _PARSED_LIMIT_IDS[value] = tuple(ids)
    return ids


def check_limit_ids(ids: list[str]) -> list[str]:
    if len(ids) > MAX_LIMIT_IDS:
        raise api_error("invalid_limit_ids", "too_many", max_limit_ids=MAX_LIMIT_IDS)
    for limit_id in ids:
        if len(limit_id) > 100:
            raise api_error("invalid_limit_id")
    return list(dict.fromkeys(ids))  # de-duplicated, order kept


def parse_properties(value: str | None, header: str) -> dict[str, str | None] | None:
    """A properties header: raw JSON, or base64 of JSON (what the SDK's instrumentor sends)."""
    if value is None or value == "":
        return None
    text = value.strip()
    if not text.startswith("{"):
        try:
            text = base64.b64decode(text, validate=True).decode()
        except (ValueError, UnicodeDecodeError):  # binascii.Error, and ValueError for non-ASCII text
            raise api_error("invalid_json", "header_encoding", header=header) from None
    try:
        data = jsonio.loads(text)
    except orjson.JSONDecodeError:
        raise api_error("invalid_json", "header", header=header) from None
    return check_properties(data, header)


def check_properties(data: Any, where: str) -> dict[str, str | None]:
    if not isinstance(data, dict):
        raise api_error("invalid_properties", where=where)
    out: dict[str, str | None] = {}
    for key, val in data.items():
        if not isinstance(key, str) or not key or len(key) > 200:
            raise api_error("invalid_properties", "name", where=where)
        if val is not None and not isinstance(val, str):
            val = orjson.dumps(val).decode() if isinstance(val, (dict, list)) else str(val)
        if val is not None and len(val) > 10_000:
            raise api_error("invalid_properties", "value", where=where)
        out[key] = val
    return out


def check_use_case_name(name: str | None) -> str | None:
    if name is None or name == "":
        return None
    if not USE_CASE_NAME.match(name):
        raise api_error("invalid_use_case_name")
    return name


def check_text(value: str | None, what: str, limit: int = MAX_TEXT) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > limit:
        raise api_error("invalid_" + what, what=what, limit=limit)
    return value


def check_tags(tags: list[str] | None) -> list[str] | None:
    if not tags:
        return None
    for tag in tags:
        if not TAG.match(tag):
            raise api_error("invalid_tags")
    return tags


def parse_version(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        version = int(value)
    except ValueError:
        raise api_error("invalid_use_case_version") from None
    if not 0 <= version <= MAX_VERSION:
        raise api_error("invalid_use_case_version", "range")
    return version


def xproxy_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The ``xproxy-*`` headers of an ASGI request (names arrive lower-case), the first of a repeated one winning
    as in Starlette's ``Headers.get``: one pass, where a ``get`` per header name scans them all and raises and
    catches a ``KeyError`` for every header not sent."""
    found: dict[str, str] = {}
    for name, value in raw:
        if name.startswith(b"xproxy-"):
            found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


ATTRIBUTION_HEADERS = frozenset({
    "xproxy-request-tags", "xproxy-usecase-id", "xproxy-experience-id", "xproxy-usecase-name",
    "xproxy-experience-name", "xproxy-limit-ids", "xproxy-usecase-version", "xproxy-usecase-step",
    "xproxy-usecase-properties", "xproxy-user-id", "xproxy-account-name", "xproxy-resource-scope",
    "xproxy-priceas-category", "xproxy-priceas-resource", "xproxy-routeas-resource", "xproxy-request-properties",
    "xproxy-logging-disable", "xproxy-instrumented-module",
})


def from_headers(headers: Mapping[str, str]) -> Attribution:
    """Attribution from request headers: a mapping of lower-case names (:func:`xproxy_headers`)."""
    if ATTRIBUTION_HEADERS.isdisjoint(headers):
        return Attribution()  # none given (a call with only its key): what the checks below give for none
    get = headers.get
    tags = get("xproxy-request-tags")
    use_case_id = get("xproxy-usecase-id") or get("xproxy-experience-id")
    use_case_name = get("xproxy-usecase-name") or get("xproxy-experience-name")
    return Attribution(
        limit_ids=parse_limit_ids(get("xproxy-limit-ids")),
        use_case_name=check_use_case_name(use_case_name),
        use_case_id=check_text(use_case_id, "use_case_id", 64),
        use_case_version=parse_version(get("xproxy-usecase-version")),
        use_case_step=check_text(get("xproxy-usecase-step"), "use_case_step"),
        use_case_properties=parse_properties(get("xproxy-usecase-properties"), "xProxy-UseCase-Properties"),
        user_id=check_text(get("xproxy-user-id"), "user_id"),
        account_name=check_text(get("xproxy-account-name"), "account_name"),
        resource_scope=check_text(get("xproxy-resource-scope"), "resource_scope", 100),
        price_as_category=check_text(get("xproxy-priceas-category"), "price_as_category"),
        price_as_resource=check_text(
            get("xproxy-priceas-resource") or get("xproxy-routeas-resource"), "price_as_resource", 300
        ),
        properties=parse_properties(get("xproxy-request-properties"), "xProxy-Request-Properties"),
        request_tags=check_tags([t.strip() for t in tags.split(",") if t.strip()] if tags else None),
        logging_disabled=(get("xproxy-logging-disable") or "").strip().lower() == "true",
        instrumented_module=check_text(get("xproxy-instrumented-module"), "instrumented_module"),
    )
