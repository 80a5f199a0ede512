"""``from_headers``: its shortcut for a call that names no attribution is the same as reading every header."""

from __future__ import annotations

import inspect
import re

import pytest

from payi_server.metering import attribution
from payi_server.metering.attribution import ATTRIBUTION_HEADERS, from_headers
from payi_server.metering.event import Attribution

_SAMPLES = {
    "xproxy-request-tags": ("a, b", "request_tags", ["a", "b"]),
    "xproxy-usecase-id": ("uc-1", "use_case_id", "uc-1"),
    "xproxy-experience-id": ("uc-2", "use_case_id", "uc-2"),
    "xproxy-usecase-name": ("chat", "use_case_name", "chat"),
    "xproxy-experience-name": ("chat2", "use_case_name", "chat2"),
    "xproxy-limit-ids": ("l1,l2", "limit_ids", ["l1", "l2"]),
    "xproxy-usecase-version": ("3", "use_case_version", 3),
    "xproxy-usecase-step": ("s", "use_case_step", "s"),
    "xproxy-usecase-properties": ('{"k": "v"}', "use_case_properties", {"k": "v"}),
    "xproxy-user-id": ("u", "user_id", "u"),
    "xproxy-account-name": ("acct", "account_name", "acct"),
    "xproxy-resource-scope": ("global", "resource_scope", "global"),
    "xproxy-priceas-category": ("system.openai", "price_as_category", "system.openai"),
    "xproxy-priceas-resource": ("gpt-4o", "price_as_resource", "gpt-4o"),
    "xproxy-routeas-resource": ("gpt-4o-mini", "price_as_resource", "gpt-4o-mini"),
    "xproxy-request-properties": ('{"p": "q"}', "properties", {"p": "q"}),
    "xproxy-logging-disable": ("true", "logging_disabled", True),
    "xproxy-instrumented-module": ("m", "instrumented_module", "m"),
}


def test_the_shortcut_knows_every_header_the_function_reads() -> None:
    read = set(re.findall(r'get\("(xproxy-[a-z-]+)"\)', inspect.getsource(attribution.from_headers)))
    assert read == ATTRIBUTION_HEADERS == set(_SAMPLES)


def test_a_call_naming_nothing_gets_the_empty_attribution_each_its_own() -> None:
    first = from_headers({"xproxy-api-key": "k", "xproxy-forward-x": "y", "xproxy-provider-baseuri": "http://h"})
    assert first == Attribution()
    first.limit_ids.append("changed later by the batch")
    assert from_headers({}) == Attribution()  # a new one: not the same list


@pytest.mark.parametrize("name", sorted(_SAMPLES))
def test_any_one_attribution_header_is_read(name: str) -> None:
    value, field, expected = _SAMPLES[name]
    got = from_headers({"xproxy-api-key": "k", name: value})
    assert getattr(got, field) == expected
    assert got != Attribution()
