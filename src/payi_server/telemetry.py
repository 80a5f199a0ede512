"""Optional OpenTelemetry export: one span per recorded (priced) call, with the GenAI semantic conventions.

Turned on by ``PAYI_SERVER_OTEL_ENDPOINT`` (an OTLP/HTTP traces endpoint, e.g. ``http://collector:4318/v1/traces``)
and the ``otel`` extra (``pip install 'payi-selfhosted[server,otel]'``). Spans are exported in the background by
the SDK's batch processor; nothing here is on a request's path. Attributes: ``gen_ai.operation.name``,
``gen_ai.provider.name``, ``gen_ai.request.model``, ``gen_ai.response.id``, ``gen_ai.usage.input_tokens`` /
``output_tokens``, plus ``payi.*`` (request id, category, resource, cost in USD, use case, user, account,
limit states). No prompt, response, key or credential is ever attached.
"""

from __future__ import annotations

from typing import Any

from .metering.recorder import Pending

_PROVIDERS = {
    "system.openai": "openai",
    "system.azureopenai": "azure.ai.openai",
    "system.anthropic": "anthropic",
    "system.azure": "azure.ai.inference",
    "system.aws.bedrock": "aws.bedrock",
    "system.google.vertex": "gcp.vertex_ai",
}


def span_attributes(item: Pending, result: dict[str, Any]) -> dict[str, Any]:
    event, attr = item.event, item.event.attribution
    tokens_in = sum(sides.get("input", 0) or 0 for sides in event.units.values())
    tokens_out = sum(sides.get("output", 0) or 0 for sides in event.units.values())
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": _PROVIDERS.get(item.category, item.category),
        "gen_ai.request.model": item.resource,
        "gen_ai.usage.input_tokens": tokens_in,
        "gen_ai.usage.output_tokens": tokens_out,
        "payi.request_id": str(item.request_id),
        "payi.source": event.source,
        "payi.category": item.category,
        "payi.resource": item.resource,
        "payi.cost.input_usd": float(item.cost_input),
        "payi.cost.output_usd": float(item.cost_output),
        "payi.cost.total_usd": float(item.cost_total),
        "payi.unpriced": bool(item.unknown_units) or item.resource_id is None,
    }
    if event.provider_response_id:
        attributes["gen_ai.response.id"] = event.provider_response_id
    if event.http_status_code is not None:
        attributes["http.response.status_code"] = event.http_status_code
    for name, value in (
        ("payi.use_case.name", attr.use_case_name),
        ("payi.use_case.id", attr.use_case_id),
        ("payi.use_case.step", attr.use_case_step),
        ("user.id", attr.user_id),
        ("payi.account_name", attr.account_name),
    ):
        if value:
            attributes[name] = value
    for limit_id, state in (result.get("limits") or {}).items():
        attributes[f"payi.limit.{limit_id}.state"] = state.get("state") if isinstance(state, dict) else str(state)
    return attributes


class OtelExport:
    """Recorder observer: turns each newly recorded call into a span."""

    def __init__(self, endpoint: str, service_name: str = "payi-server", processor: Any = None) -> None:
        # Imported here: the OpenTelemetry SDK is an optional extra, needed only when export is turned on.
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self._provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        if processor is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
        self._provider.add_span_processor(processor)
        self._tracer = self._provider.get_tracer("payi_server")

    def __call__(self, item: Pending, result: dict[str, Any]) -> None:
        event = item.event
        start = int(event.event_timestamp.timestamp() * 1e9)
        end = start + int((event.end_to_end_latency_ms or 0) * 1e6)
        span = self._tracer.start_span(
            f"chat {item.resource}", start_time=start, attributes=span_attributes(item, result)
        )
        span.end(end_time=end)

    def shutdown(self) -> None:
        self._provider.shutdown()
