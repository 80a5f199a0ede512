"""``payi_instrument`` with the real ``openai`` client against the fake upstream and our live server.

Ingest mode must record what proxy mode records for the same call (units, cost, resource, attribution).
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from payi import AsyncPayi
from payi.lib.helpers import payi_azure_openai_url, payi_openai_url
from payi.lib.instrument import get_context, payi_flush, track, track_context
from tests.fakes.config import FakeConfig

from .instrument_env import MESSAGES, InstrumentEnv, fake_config, ienv

__all__ = ["fake_config", "ienv"]

MODEL = "gpt-4o-mini"
RESOLVED = "gpt-4o-mini-2024-07-18"
ALIASED = FakeConfig(stream_chunks=3, model_aliases={MODEL: RESOLVED})


def _direct(env: InstrumentEnv, **kwargs: Any) -> openai.OpenAI:
    return env.closing(openai.OpenAI(api_key="sk-fake", base_url=env.openai_direct, max_retries=0, **kwargs))  # type: ignore[no-any-return]


def _proxied(env: InstrumentEnv) -> openai.OpenAI:
    return env.closing(  # type: ignore[no-any-return]
        openai.OpenAI(
            api_key="sk-fake",
            base_url=payi_openai_url(env.live.url),
            default_headers={"xProxy-Api-Key": env.key},
        )
    )


def _same_record(ingested: dict[str, Any], proxied: dict[str, Any]) -> None:
    for column in (
        "category",
        "resource",
        "units",
        "cost_input",
        "cost_output",
        "cost_total",
        "user_id",
        "use_case_name",
        "limit_ids",
        "account_name",
        "http_status_code",
        "unpriced",
    ):
        assert ingested[column] == proxied[column], column


@pytest.mark.parametrize("fake_config", [ALIASED])
def test_chat_ingest_records_what_the_proxy_records(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    with track_context(use_case_name="support_bot", user_id="u-1", account_name="acme"):
        direct = _direct(ienv).chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
        assert payi_flush(5)
        last = get_context()["last_result"]
        with track_context(proxy=True):
            proxied = _proxied(ienv).chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
    assert direct.choices[0].message.content == proxied.choices[0].message.content
    ingested_row, proxied_row = ienv.recorded(2)
    assert ingested_row["source"] == "ingest" and proxied_row["source"] == "proxy"
    _same_record(ingested_row, proxied_row)
    assert ingested_row["resource"] == RESOLVED and ingested_row["cost_total"] > 0
    assert ingested_row["provider_response_id"] == direct.id
    assert ingested_row["provider_uri"] == ienv.openai_direct + "/"
    assert ingested_row["use_case_name"] == "support_bot" and ingested_row["use_case_id"]
    assert ingested_row["end_to_end_latency_ms"] is not None
    assert ingested_row["http_status_code"] == 200
    assert last is not None and last.cost.total.base == pytest.approx(float(ingested_row["cost_total"]))  # type: ignore[union-attr]
    assert direct.xproxy_result.request_id == str(ingested_row["id"])  # type: ignore[attr-defined]
    assert "system.stack_trace" in (ingested_row["properties"] or {})


@pytest.mark.parametrize("fake_config", [ALIASED])
def test_chat_stream_hides_the_usage_chunk_it_asked_for(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    client = _direct(ienv)
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    chunks = list(stream)
    assert chunks and all(chunk.choices for chunk in chunks)  # the caller never sees the usage-only chunk
    upstream = ienv.fake.last("openai.chat").json()
    assert upstream["stream_options"] == {"include_usage": True}
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    whole = client.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
    assert whole.choices[0].message.content == text
    assert payi_flush(5)
    streamed_row, whole_row = ienv.recorded(2)
    assert (
        streamed_row["units"] == whole_row["units"] and streamed_row["cost_total"] == whole_row["cost_total"]
    )
    assert streamed_row["resource"] == RESOLVED
    assert streamed_row["time_to_first_token_ms"] is not None


def test_chat_stream_with_usage_requested_is_passed_through(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    stream = _direct(ienv).chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},  # type: ignore[arg-type]
    )
    chunks = list(stream)
    assert chunks[-1].usage is not None and not chunks[-1].choices
    assert payi_flush(5)
    (row,) = ienv.recorded(1)
    assert row["units"]["text"]["output"] == chunks[-1].usage.completion_tokens


def test_stream_helper_and_context_manager(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    client = _direct(ienv)
    with client.chat.completions.stream(model=MODEL, messages=MESSAGES) as stream:  # type: ignore[arg-type]
        final = stream.get_final_completion()
    with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as raw:  # type: ignore[arg-type]
        first = next(iter(raw))  # leave the rest unread: closing the stream still reports it
    assert first.choices
    assert payi_flush(5)
    helper_row, abandoned_row = ienv.recorded(2)
    assert helper_row["units"]["text"]["output"] > 0 and final.choices[0].message.content
    assert helper_row["provider_response_id"] == final.id
    assert abandoned_row["http_status_code"] == 200


async def test_async_chat_stream_and_responses(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    client = openai.AsyncOpenAI(api_key="sk-fake", base_url=ienv.openai_direct)
    whole = await client.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
    stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    chunks = [chunk async for chunk in stream]
    assert all(chunk.choices for chunk in chunks)
    async with client.chat.completions.stream(model=MODEL, messages=MESSAGES) as helper:  # type: ignore[arg-type]
        await helper.get_final_completion()
    response = await client.responses.create(model=MODEL, input="alpha beta gamma")
    events = [
        event
        async for event in await client.responses.create(model=MODEL, input="alpha beta gamma", stream=True)
    ]
    embedding = await client.embeddings.create(model="text-embedding-3-small", input="alpha beta")
    await client.close()
    assert payi_flush(5)
    rows = ienv.recorded(6)
    assert [r["resource"] for r in rows] == [MODEL] * 5 + ["text-embedding-3-small"]
    assert (
        rows[0]["units"] == rows[1]["units"] == rows[2]["units"]
        and rows[0]["provider_response_id"] == whole.id
    )
    assert rows[3]["units"] == rows[4]["units"] and rows[3]["provider_response_id"] == response.id
    assert events[-1].type == "response.completed"
    assert rows[5]["units"]["text"]["input"] == embedding.usage.prompt_tokens
    assert all(r["cost_total"] > 0 for r in rows)


def test_sync_responses_and_embeddings(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    client = _direct(ienv)
    response = client.responses.create(model=MODEL, input="alpha beta gamma")
    with client.responses.stream(model=MODEL, input="alpha beta gamma") as stream:
        final = stream.get_final_response()
    client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    assert payi_flush(5)
    rows = ienv.recorded(3)
    assert rows[0]["units"] == rows[1]["units"]
    assert rows[0]["provider_response_id"] == response.id and rows[1]["provider_response_id"] == final.id
    assert rows[2]["units"]["text"]["input"] > 0


async def test_parse_and_an_async_payi_client(ienv: InstrumentEnv) -> None:
    async_payi = AsyncPayi(api_key=ienv.key, base_url=ienv.live.url)
    ienv.instrument(payi=async_payi)  # the sender mirrors it with a sync twin
    client = _direct(ienv)
    parsed = client.chat.completions.parse(
        model=MODEL, messages=MESSAGES, response_format={"type": "json_object"}
    )  # type: ignore[arg-type]
    aclient = openai.AsyncOpenAI(api_key="sk-fake", base_url=ienv.openai_direct)
    response = await aclient.responses.parse(model=MODEL, input="alpha beta")
    await aclient.close()
    await async_payi.close()
    assert payi_flush(5)
    parse_row, responses_row = ienv.recorded(2)
    assert parse_row["provider_response_id"] == parsed.id and parse_row["units"]["text"]["output"] > 0
    assert responses_row["provider_response_id"] == response.id


def test_azure_client_is_azure_openai(ienv: InstrumentEnv) -> None:
    ienv.instrument(
        config={
            "openai_config": {
                "model_mappings": [{"model": "my-deploy", "price_as_resource": "gpt-4o-2024-08-06"}]
            }
        }
    )
    client = ienv.closing(
        openai.AzureOpenAI(
            api_key="azure-key", api_version="2024-08-01-preview", azure_endpoint=ienv.fake_url
        )
    )
    client.chat.completions.create(model="my-deploy", messages=MESSAGES)  # type: ignore[arg-type]
    assert payi_flush(5)
    with track_context(proxy=True):
        proxied = ienv.closing(
            openai.AzureOpenAI(
                api_key="azure-key",
                api_version="2024-08-01-preview",
                azure_endpoint=payi_azure_openai_url(ienv.live.url),
                default_headers={"xProxy-Api-Key": ienv.key, "xProxy-Provider-BaseUri": ienv.fake_url},
            )
        )
        proxied.chat.completions.create(
            model="my-deploy",
            messages=MESSAGES,
            extra_headers={"xProxy-PriceAs-Resource": "gpt-4o-2024-08-06"},  # type: ignore[arg-type]
        )
    assert payi_flush(5)
    ingested, proxied_row = ienv.recorded(2)
    assert ingested["category"] == "system.azureopenai" == proxied_row["category"]
    assert ingested["resource"] == "gpt-4o-2024-08-06" == proxied_row["resource"]
    assert ingested["units"] == proxied_row["units"] and ingested["cost_total"] == proxied_row["cost_total"]


def test_proxy_mode_adds_the_context_headers_and_reads_the_result(ienv: InstrumentEnv) -> None:
    ienv.instrument(config={"proxy": True})
    client = _proxied(ienv)

    @track(use_case_name="proxied_bot", user_id="u-9", request_properties={"team": "blue"}, limit_ids=[])
    def ask() -> Any:
        return client.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]

    completion = ask()
    assert completion.model_extra and "xproxy_result" in completion.model_extra
    last = get_context()["last_result"]
    assert last is not None and last.request_id == completion.model_extra["xproxy_result"]["request_id"]  # type: ignore[union-attr]
    (row,) = ienv.recorded(1)
    assert row["source"] == "proxy" and row["use_case_name"] == "proxied_bot" and row["user_id"] == "u-9"
    assert row["properties"]["team"] == "blue"
    assert not ienv.fake.last("openai.chat").header("xproxy-user-id")  # consumed by Pay-i, not forwarded


def test_caller_headers_win_and_empty_removes(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    with track_context(user_id="ctx-user", account_name="ctx-account", request_properties={"a": "1"}):
        _direct(ienv).chat.completions.create(
            model=MODEL,
            messages=MESSAGES,  # type: ignore[arg-type]
            extra_headers={
                "xProxy-User-ID": "header-user",
                "xProxy-Account-Name": "",
                "xProxy-Request-Properties": json.dumps({"b": "2"}),
                "x-custom": "kept",
            },
        )
    assert payi_flush(5)
    (row,) = ienv.recorded(1)
    assert row["user_id"] == "header-user" and row["account_name"] is None
    assert row["properties"]["b"] == "2" and "a" not in row["properties"]
    upstream = ienv.fake.last("openai.chat")
    assert upstream.header("x-custom") == "kept" and upstream.header("xproxy-user-id") is None


def test_provider_error_is_raised_unchanged_and_recorded(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    client = _direct(ienv, default_headers={"x-fake-status": "429"})
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.status_code == 429
    assert payi_flush(5)
    (row,) = ienv.recorded(1)
    assert row["http_status_code"] == 429 and row["failed"] is True
    assert row["provider_response_id"] == info.value.request_id


def test_tool_calls_and_logging_off(ienv: InstrumentEnv) -> None:
    ienv.instrument(log_prompt_and_response=False)
    _direct(ienv).chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
    assert payi_flush(5)
    (row,) = ienv.recorded(1)
    assert row["units"]["text"]["input"] > 0
