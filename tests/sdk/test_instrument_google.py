"""``payi_instrument`` with the real ``google-genai`` client (Gemini API and Vertex AI backends) against a fake
Gemini upstream on a loopback port and our live server: generate_content and generate_content_stream, sync and
async, priced at the catalog's (genai-prices') price."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from payi.lib._instrumentor import ACTIVE
from payi.lib.instrument import _uninstrument, payi_flush, payi_instrument, track_context
from tests.fakes.serve import serve_app

from .gemini_fake import GeminiFake
from .instrument_env import InstrumentEnv, fake_config, ienv

__all__ = ["fake_config", "ienv"]

genai = pytest.importorskip("google.genai")
from google.genai import types  # noqa: E402
from google.oauth2.credentials import Credentials  # noqa: E402

MODEL = "gemini-2.0-flash"


@pytest.fixture
def gemini() -> Iterator[tuple[GeminiFake, str]]:
    fake = GeminiFake()
    with serve_app(fake.app()) as url:
        yield fake, url


def _client(url: str, *, vertex: bool = False, **headers: str) -> Any:
    options = types.HttpOptions(base_url=url, headers=headers or None)
    if vertex:  # Vertex AI: project / location paths and an OAuth token
        return genai.Client(
            vertexai=True, project="proj", location="us-central1", credentials=Credentials(token="t"),
            http_options=options,
        )
    return genai.Client(api_key="gemini-key", http_options=options)


def _ingested_cost(env: InstrumentEnv, units: dict[str, Any], resource: str = MODEL) -> Decimal:
    """What the server charges for these units when ingested directly (under the bare model name)."""
    result = env.payi().ingest.units(category="system.google.vertex", resource=resource, units=units)
    assert result.xproxy_result.cost is not None
    return Decimal(str(result.xproxy_result.cost.total.base))


def test_generate_content_sync_plain_and_streamed(ienv: InstrumentEnv, gemini: tuple[GeminiFake, str]) -> None:
    fake, url = gemini
    ienv.instrument()
    client = _client(url)
    with track_context(use_case_name="gem", user_id="u-g"):
        answer = client.models.generate_content(model=MODEL, contents="alpha beta gamma")
        pieces = [chunk.text for chunk in client.models.generate_content_stream(model=MODEL, contents="alpha")]
    assert answer.text == "Gemini says hello to you" and "".join(p or "" for p in pieces) == answer.text
    assert payi_flush(5)
    plain, streamed = ienv.recorded(2)
    for row in (plain, streamed):
        assert row["source"] == "ingest" and row["category"] == "system.google.vertex"
        assert row["resource"] == f"google.{MODEL}"
        assert row["units"] == {"text": {"input": 12, "output": 5}}
        assert row["use_case_name"] == "gem" and row["user_id"] == "u-g" and row["http_status_code"] == 200
        assert row["provider_uri"] == url + "/" or row["provider_uri"] == url
    assert plain["provider_response_id"] == "gemini-1" and streamed["provider_response_id"] == "gemini-2"
    assert streamed["time_to_first_token_ms"] is not None
    expected = _ingested_cost(ienv, {"text": {"input": 12, "output": 5}})
    assert expected > 0 and Decimal(str(plain["cost_total"])) == Decimal(str(streamed["cost_total"])) == expected
    assert fake.paths == [f"/v1/models/{MODEL}:generateContent", f"/v1/models/{MODEL}:streamGenerateContent"]


# google-genai's async transport (aiohttp, a server dependency here) subclasses ClientSession, which aiohttp warns on
@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
async def test_generate_content_async_and_vertex(ienv: InstrumentEnv, gemini: tuple[GeminiFake, str]) -> None:
    fake, url = gemini
    ienv.instrument()
    client = _client(url, vertex=True)
    answer = await client.aio.models.generate_content(model=MODEL, contents="alpha beta")
    stream = await client.aio.models.generate_content_stream(model=MODEL, contents="alpha beta")
    pieces = [chunk.text async for chunk in stream]
    await client.aio.aclose()
    assert answer.text and "".join(p or "" for p in pieces) == answer.text
    assert payi_flush(5)
    rows = ienv.recorded(2)
    assert [row["resource"] for row in rows] == [f"google.{MODEL}"] * 2
    assert all(row["units"] == {"text": {"input": 12, "output": 5}} and row["cost_total"] > 0 for row in rows)
    assert all(path.startswith("/v1beta1/projects/proj/locations/us-central1/") for path in fake.paths)


def test_cache_thoughts_modalities_and_function_calls(
    ienv: InstrumentEnv, gemini: tuple[GeminiFake, str]
) -> None:
    _, url = gemini
    ienv.instrument()
    usage = {
        "promptTokenCount": 1300,
        "cachedContentTokenCount": 1000,
        "candidatesTokenCount": 40,
        "thoughtsTokenCount": 25,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1042}, {"modality": "IMAGE", "tokenCount": 258}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 1000}],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 40}],
    }
    client = _client(url, **{"x-fake-usage": json.dumps(usage), "x-fake-call": "weather"})
    client.models.generate_content(model=MODEL, contents="what is the weather")
    assert payi_flush(5)
    (row,) = ienv.recorded(1)
    units = {
        "text": {"input": 42, "output": 40},
        "text_cache_read": {"input": 1000},
        "vision": {"input": 258},
        "reasoning": {"output": 25},
    }
    assert row["units"] == units
    assert Decimal(str(row["cost_total"])) == _ingested_cost(ienv, units)


def test_an_upstream_error_is_raised_and_recorded(ienv: InstrumentEnv, gemini: tuple[GeminiFake, str]) -> None:
    _, url = gemini
    ienv.instrument()
    client = _client(url, **{"x-fake-status": "429"})
    with pytest.raises(genai.errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents="alpha")
    assert caught.value.code == 429
    assert payi_flush(5)
    (row,) = ienv.recorded(1)
    assert row["http_status_code"] == 429 and row["failed"] is True and row["category"] == "system.google.vertex"


def test_instruments_can_name_google_alone(ienv: InstrumentEnv, gemini: tuple[GeminiFake, str]) -> None:
    _, url = gemini
    ienv.instrument(instruments={"system.google.vertex"})
    client = _client(url)  # kept: a google-genai Client closes its HTTP client when collected
    client.models.generate_content(model=MODEL, contents="alpha")
    assert payi_flush(5)
    assert ienv.recorded(1)[0]["resource"] == f"google.{MODEL}"


def test_the_event_carries_function_calls_headers_and_the_response(
    gemini: tuple[GeminiFake, str], tmp_path: Any
) -> None:
    _, url = gemini
    payi_instrument(config={"offline_instrumentation": {"file_name": str(tmp_path / "events.json")}})
    try:
        client = _client(url, **{"x-fake-call": "weather"})
        client.models.generate_content(model=MODEL, contents="weather?")
        assert payi_flush(5)
        inst = ACTIVE.instrumentor
        assert inst is not None and inst.sender is not None
        (event,) = [event["body"] for event in inst.sender.offline_events]
    finally:
        _uninstrument()
    assert event["provider_response_function_calls"] == [{"name": "weather", "arguments": '{"city": "Oslo"}'}]
    assert {"name": "x-fake-upstream", "value": "gemini"} in event["provider_response_headers"]
    assert json.loads(event["provider_response_json"][0])["response_id"] == "gemini-1"
    assert "weather?" in event["provider_request_json"]
