"""Context rules of ``track`` / ``track_context`` / ``get_context`` (spec 4.2) and their headers.

Provider calls here go to an in-process ``httpx2.MockTransport``; ingest events are collected in offline mode.
"""

from __future__ import annotations

import asyncio
import base64
import doctest
import importlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from payi import Payi
from payi.lib._context import resolve, split_headers
from payi.lib._instrumentor import ACTIVE
from payi.lib.instrument import (
    PayiInstrumentConfig,
    _caller_use_case_name,
    _uninstrument,
    get_context,
    payi_flush,
    payi_instrument,
    track,
    track_context,
)

CHAT = {
    "id": "chatcmpl-ctx",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
}


class Upstream:
    """An OpenAI client whose HTTP goes to a recording mock."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        transport = httpx2.MockTransport(self._answer)
        self.client = openai.OpenAI(
            api_key="sk", base_url="http://upstream.test/v1", http_client=httpx2.Client(transport=transport)
        )

    def _answer(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return httpx2.Response(200, json=CHAT, headers={"x-request-id": "req-1"})

    def chat(self, **kwargs: Any) -> Any:
        return self.client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], **kwargs
        )


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[Any]:
    """``payi_instrument`` in offline mode (events kept in memory); returns a function listing the events."""

    def start(config: PayiInstrumentConfig | None = None, **kwargs: Any) -> None:
        cfg: dict[str, Any] = {"offline_instrumentation": {"file_name": str(tmp_path / "events.json")}}
        cfg.update(config or {})
        payi_instrument(config=cfg, **kwargs)  # type: ignore[arg-type]

    yield start
    _uninstrument()


def events() -> list[dict[str, Any]]:
    assert payi_flush(5)
    inst = ACTIVE.instrumentor
    assert inst is not None and inst.sender is not None
    return [event["body"] for event in inst.sender.offline_events]


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    yield up
    up.client.close()


# ------------------------------------------------------------------------------------------- rules


def test_limit_ids_union_and_clear() -> None:
    root = resolve(None, limit_ids=["a", "b"])
    assert resolve(root, limit_ids=["b", "c"]).limit_ids == ("a", "b", "c")
    assert resolve(root).limit_ids == ("a", "b")
    assert resolve(root, limit_ids=[]).limit_ids == ()


def test_use_case_name_rules() -> None:
    root = resolve(
        None, use_case_name="bot", use_case_version=2, use_case_step="s1", use_case_properties={"k": "v"}
    )
    same = resolve(root, use_case_name="bot")
    assert (same.use_case_id, same.use_case_version, same.use_case_step) == (root.use_case_id, 2, "s1")
    inherited = resolve(root, use_case_step="s2")
    assert (
        inherited.use_case_name == "bot"
        and inherited.use_case_step == "s2"
        and inherited.use_case_id == root.use_case_id
    )
    other = resolve(root, use_case_name="other")
    assert other.use_case_id not in (None, root.use_case_id)
    assert (other.use_case_version, other.use_case_step, other.use_case_properties) == (None, None, None)
    given = resolve(root, use_case_name="other", use_case_id="fixed")
    assert given.use_case_id == "fixed"
    cleared = resolve(root, use_case_name="")
    assert (cleared.use_case_name, cleared.use_case_id, cleared.use_case_version, cleared.use_case_step) == (
        None,
    ) * 4
    assert resolve(root, use_case_step="").use_case_step is None


def test_strings_properties_and_flags_inherit_and_clear() -> None:
    root = resolve(
        None,
        user_id="u",
        account_name="acct",
        request_properties={"a": "1", "b": "2"},
        proxy=True,
        log_prompt_and_response=False,
        price_as_resource="gpt-4o",
        resource_scope="global",
    )
    child = resolve(root, request_properties={"b": "3", "c": "4"})
    assert child.request_properties == {"a": "1", "b": "3", "c": "4"}
    assert (child.user_id, child.account_name, child.proxy, child.log_prompt_and_response) == (
        "u",
        "acct",
        True,
        False,
    )
    assert (child.price_as_resource, child.resource_scope) == ("gpt-4o", "global")
    cleared = resolve(root, user_id="", request_properties={}, price_as_resource="", proxy=False)
    assert (cleared.user_id, cleared.request_properties, cleared.price_as_resource, cleared.proxy) == (
        None,
        None,
        None,
        False,
    )
    assert root.request_properties == {"a": "1", "b": "2"}  # parents are never mutated


def test_headers_caller_wins_empty_removes_and_proxy_base64() -> None:
    frame = resolve(
        None,
        use_case_name="bot",
        use_case_version=3,
        user_id="u",
        request_properties={"a": "1"},
        limit_ids=["l1"],
    )
    provider, payi = split_headers(
        frame, {"x-other": "1", "xProxy-User-ID": "", "xProxy-UseCase-Name": "mine"}, proxy=True
    )
    assert provider == {"x-other": "1"}
    assert (
        payi["xProxy-UseCase-Name"] == "mine"
        and "xProxy-UseCase-ID" not in payi
        and "xProxy-UseCase-Version" not in payi
    )
    assert "xProxy-User-ID" not in payi and payi["xProxy-Limit-IDs"] == "l1"
    assert json.loads(base64.b64decode(payi["xProxy-Request-Properties"])) == {"a": "1"}
    _, ingest = split_headers(frame, None, proxy=False)
    assert (
        json.loads(ingest["xProxy-Request-Properties"]) == {"a": "1"}
        and ingest["xProxy-UseCase-Version"] == "3"
    )
    _, raw = split_headers(frame, {"xProxy-Request-Properties": '{"b":"2"}'}, proxy=True)
    assert json.loads(base64.b64decode(raw["xProxy-Request-Properties"])) == {"b": "2"}


# ------------------------------------------------------------------------------------------- stack


def test_nesting_and_restoring(offline: Any) -> None:
    offline(config={"global_instrumentation": False})
    assert get_context() == {}
    with track_context(use_case_name="outer", limit_ids=["a"], user_id="u1"):
        outer_id = get_context()["use_case_id"]
        with track_context(limit_ids=["b"], user_id="u2"):
            inner = get_context()
            assert (
                inner["limit_ids"] == ["a", "b"]
                and inner["user_id"] == "u2"
                and inner["use_case_id"] == outer_id
            )
        assert get_context()["user_id"] == "u1" and get_context()["limit_ids"] == ["a"]
    assert get_context() == {}


def test_global_context_uses_the_caller_file_name(offline: Any) -> None:
    offline(config={"limit_ids": ["g"]})
    context = get_context()
    assert context["use_case_name"] == "test_instrument_context" and context["limit_ids"] == ["g"]
    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.append(get_context().get("use_case_name")))
    thread.start()
    thread.join()
    assert seen == ["test_instrument_context"]  # every thread falls back to the global context


def test_track_decorator_sync_async_and_bare(offline: Any) -> None:
    offline()

    @track(use_case_name="sync_uc", user_id="u")
    def sync_fn() -> Any:
        return get_context()

    @track
    def bare() -> Any:
        return get_context()

    @track(limit_ids=["x"])
    async def async_fn() -> Any:
        await asyncio.sleep(0)
        return get_context()

    assert sync_fn()["use_case_name"] == "sync_uc" and sync_fn()["user_id"] == "u"
    assert bare()["use_case_name"] == "test_instrument_context"
    assert asyncio.run(async_fn())["limit_ids"] == ["x"]
    assert "user_id" not in get_context()


def test_thread_pool_and_asyncio_tasks_inherit(offline: Any) -> None:
    offline(config={"global_instrumentation": False})
    with track_context(use_case_name="parent", user_id="u1"), ThreadPoolExecutor(2) as pool:
        assert pool.submit(lambda: get_context().get("user_id")).result() == "u1"
        assert list(pool.map(lambda _: get_context().get("use_case_name"), range(2))) == ["parent", "parent"]

    async def child(name: str) -> Any:
        with track_context(account_name=name):
            await asyncio.sleep(0.01)
            return get_context()

    async def main() -> list[Any]:
        with track_context(use_case_name="tasks", limit_ids=["l"]):
            task = asyncio.create_task(child("a"))
            gathered = await asyncio.gather(child("b"), child("c"))
            outside = get_context()
            return [await task, *gathered, outside]

    a, b, c, outside = asyncio.run(main())
    assert [x["account_name"] for x in (a, b, c)] == ["a", "b", "c"]  # siblings do not see each other
    assert all(x["use_case_name"] == "tasks" and x["limit_ids"] == ["l"] for x in (a, b, c))
    assert "account_name" not in outside


# ------------------------------------------------------------------------------------------- calls


def test_calls_outside_any_context_pass_through(offline: Any, upstream: Upstream) -> None:
    offline(config={"global_instrumentation": False})
    upstream.chat()
    assert events() == []
    with track_context(user_id="u"):
        upstream.chat()
    (event,) = events()
    assert event["user_id"] == "u" and event["resource"] == "gpt-4o-mini-2024-07-18"
    assert (
        event["units"] == {"text": {"input": 7, "output": 3}}
        and event["provider_response_id"] == "chatcmpl-ctx"
    )


def test_ingest_event_shape(offline: Any, upstream: Upstream) -> None:
    offline(config={"use_case_name": "shape", "request_properties": {"team": "a"}})
    with track_context(limit_ids=["l1"], use_case_step="draft"):
        upstream.chat(extra_headers={"x-trace": "t1"})
    (event,) = events()
    assert event["category"] == "system.openai" and event["http_status_code"] == 200
    assert (
        event["limit_ids"] == ["l1"]
        and event["use_case_name"] == "shape"
        and event["use_case_step"] == "draft"
    )
    assert event["properties"]["team"] == "a" and "system.stack_trace" in event["properties"]
    assert "test_ingest_event_shape" in event["properties"]["system.stack_trace"]
    assert event["provider_request_headers"] == [{"name": "x-trace", "value": "t1"}]
    assert {"name": "x-request-id", "value": "req-1"} in event["provider_response_headers"]
    assert json.loads(event["provider_request_json"])["model"] == "gpt-4o-mini"
    assert json.loads(event["provider_response_json"][0])["id"] == "chatcmpl-ctx"
    assert upstream.requests[-1].headers.get("x-trace") == "t1"
    assert not any(k.lower().startswith("xproxy-") for k in upstream.requests[-1].headers)


def test_logging_off_omits_prompt_and_response(offline: Any, upstream: Upstream) -> None:
    offline(log_prompt_and_response=False)
    upstream.chat()
    with track_context(log_prompt_and_response=True):
        upstream.chat()
    quiet, loud = events()
    assert "provider_request_json" not in quiet and "provider_response_json" not in quiet
    assert "provider_request_json" in loud


def test_proxy_mode_sends_headers_only(offline: Any, upstream: Upstream) -> None:
    offline(
        config={"proxy": True, "use_case_name": "px", "request_properties": {"p": "1"}},
        log_prompt_and_response=False,
    )
    completion = upstream.chat(extra_headers={"xProxy-User-ID": "caller"})
    sent = upstream.requests[-1].headers
    assert sent["xProxy-UseCase-Name"] == "px" and sent["xProxy-User-ID"] == "caller"
    assert json.loads(base64.b64decode(sent["xProxy-Request-Properties"])) == {"p": "1"}
    assert sent["xProxy-Logging-Disable"] == "True"
    assert events() == [] and completion.id == "chatcmpl-ctx"


def test_positional_client_and_second_call_is_a_no_op(tmp_path: Path) -> None:
    client = Payi(api_key="k", base_url="http://127.0.0.1:9")
    try:
        payi_instrument(
            client, config={"ingest_retry": {"spool_dir": str(tmp_path)}, "use_case_name": "first"}
        )
        first = ACTIVE.instrumentor
        payi_instrument(payi=client, config={"use_case_name": "second"})
        assert ACTIVE.instrumentor is first and get_context()["use_case_name"] == "first"
        assert first is not None and first.client is client
    finally:
        _uninstrument()
        client.close()


def test_use_case_name_from_file_name_is_made_valid() -> None:
    assert _caller_use_case_name("/x/My Script (v2).py") == "my_script__v2_"
    assert _caller_use_case_name("/x/" + "a" * 100 + ".py") == "a" * 64


@pytest.mark.parametrize(
    "module",
    [
        "payi.lib.instrument",
        "payi.lib.providers._tools",
        "payi.lib._context",
        "payi.lib._spool",
        "payi.lib._config",
    ],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


# ------------------------------------------------------------------------------------------- function calls

TOOL_CHAT = {
    **CHAT,
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "t1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                    }
                ],
            },
        }
    ],
}


def _sse(*chunks: dict[str, Any]) -> str:
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def _tool_delta(arguments: str, name: str | None = None) -> dict[str, Any]:
    function = {"arguments": arguments, **({"name": name} if name else {})}
    delta = {"tool_calls": [{"index": 0, "id": "t1", "type": "function", "function": function}]}
    return {
        "id": "chatcmpl-tool",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta}],
    }


TOOL_STREAM = _sse(
    _tool_delta("", name="get_weather"),
    _tool_delta('{"city":'),
    _tool_delta('"Oslo"}'),
    {
        "id": "chatcmpl-tool",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15},
    },
)
ANTHROPIC_TOOL = {
    "id": "msg_tool",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-haiku-20241022",
    "content": [{"type": "tool_use", "id": "tu1", "name": "get_weather", "input": {"city": "Oslo"}}],
    "stop_reason": "tool_use",
    "usage": {"input_tokens": 20, "output_tokens": 8},
}


def test_function_calls_are_reported(offline: Any) -> None:
    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/messages"):
            return httpx2.Response(200, json=ANTHROPIC_TOOL)
        if b'"stream":true' in request.content:
            return httpx2.Response(200, text=TOOL_STREAM, headers={"content-type": "text/event-stream"})
        return httpx2.Response(200, json=TOOL_CHAT)

    offline()
    transport = httpx2.MockTransport(answer)
    oai = openai.OpenAI(
        api_key="sk", base_url="http://up.test/v1", http_client=httpx2.Client(transport=transport)
    )
    ant = anthropic.Anthropic(
        api_key="sk", base_url="http://up.test", http_client=httpx2.Client(transport=transport)
    )
    messages: Any = [{"role": "user", "content": "weather?"}]
    oai.chat.completions.create(model="gpt-4o", messages=messages)
    chunks = list(oai.chat.completions.create(model="gpt-4o", messages=messages, stream=True))
    ant.messages.create(model="claude-3-5-haiku-20241022", max_tokens=50, messages=messages)
    oai.close()
    ant.close()
    assert all(chunk.choices for chunk in chunks)
    whole, streamed, claude = events()
    expected = [{"name": "get_weather", "arguments": '{"city":"Oslo"}'}]
    assert (
        whole["provider_response_function_calls"] == expected == streamed["provider_response_function_calls"]
    )
    assert claude["provider_response_function_calls"] == [
        {"name": "get_weather", "arguments": '{"city": "Oslo"}'}
    ]
    assert (
        streamed["units"] == {"text": {"input": 9, "output": 6}} and claude["category"] == "system.anthropic"
    )


def test_price_as_host_mappings_and_model_mappings(offline: Any, upstream: Upstream) -> None:
    offline(
        config={
            "host_mappings": {"upstream.test": {"price_as_category": "system.databricks.aws"}},
            "openai_config": {
                "model_mappings": [{"model": "gpt-4o-mini", "host": "other.test", "price_as_resource": "x"}]
            },
        }
    )
    upstream.chat()  # host mapping: category only; the mapping for another host does not apply
    with track_context(
        price_as_category="custom.cat", price_as_resource="my-model", resource_scope="datazone.us"
    ):
        upstream.chat()
    mapped, priced = events()
    assert (mapped["category"], mapped["resource"]) == ("system.databricks.aws", "gpt-4o-mini-2024-07-18")
    assert (priced["category"], priced["resource"], priced["resource_scope"]) == (
        "custom.cat",
        "my-model",
        "datazone.us",
    )
