"""OpenTelemetry export of each priced call, with the GenAI semantic conventions (optional extra)."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from payi_server.telemetry import OtelExport  # noqa: E402

from ..conftest import Running  # noqa: E402


async def test_each_recorded_call_becomes_a_genai_span(running: Running) -> None:
    spans = InMemorySpanExporter()
    export = OtelExport("http://unused", processor=SimpleSpanProcessor(spans))
    running.state.recorder._observers.append(export)
    body = {
        "category": "system.aws.bedrock",
        "resource": "anthropic.claude-3-haiku-20240307-v1:0",
        "units": {"text": {"input": 50, "output": 100}},
        "provider_response_id": "msg_1",
        "provider_request_json": '{"messages": ["secret prompt"]}',
    }
    response = await running.client.post(
        "/api/v1/ingest", json=body, headers={**running.headers(), "xProxy-User-ID": "u-9"}
    )
    assert response.status_code == 200
    (span,) = spans.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert span.name == "chat anthropic.claude-3-haiku-20240307-v1:0"
    assert attrs["gen_ai.provider.name"] == "aws.bedrock"
    assert attrs["gen_ai.request.model"] == "anthropic.claude-3-haiku-20240307-v1:0"
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (50, 100)
    assert attrs["gen_ai.response.id"] == "msg_1"
    assert attrs["payi.cost.total_usd"] == 0.0001375
    assert attrs["user.id"] == "u-9"
    assert attrs["payi.request_id"] == response.json()["request_id"]
    assert not any("secret prompt" in str(v) for v in attrs.values())
    export.shutdown()
