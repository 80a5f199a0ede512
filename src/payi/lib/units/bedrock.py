"""AWS Bedrock usage -> Pay-i units: InvokeModel bodies per model family, invoke streams, Converse, guardrails.

Bedrock's input counts (``inputTokens``, ``inputTokenCount``, Anthropic's ``input_tokens``) EXCLUDE cache reads and
writes, which are reported beside them; the official SDK adds them as separate units without subtracting
anything (``BedrockInstrumentor.process_invoke_other_provider_chunk``, the Nova branch of
``InvokeResponseWrapper.read``), and so do we.

InvokeModel response bodies (the family is recognised from the body's shape, so provisioned-throughput and
inference-profile ARNs work too; ``model_id`` is only a hint):

* Anthropic Claude (``usage.input_tokens``): exactly the Anthropic units (``units.anthropic``), large context
  included.
* Amazon Nova (``usage.inputTokens``, ``outputTokens``, ``cacheReadInputTokenCount``,
  ``cacheWriteInputTokenCount``): ``text``, ``text_cache_read``, ``text_cache_write``. The official SDK sends the
  cache counts as bare ints here (an SDK bug); we always emit ``{"input": n}`` and ``normalize_units`` accepts
  both.
* Meta Llama (``prompt_token_count``, ``generation_token_count``), Amazon Titan text/embeddings
  (``inputTextTokenCount``, ``results[].tokenCount``), OpenAI-compatible bodies (gpt-oss, Jamba, ...: ``usage.
  prompt_tokens`` / ``completion_tokens``, used as-is like the official SDK), Cohere (``usage.billed_units`` / ``meta.billed_units``):
  ``text``.
* Anything else (Mistral, Cohere without ``meta``, ...): the ``x-amzn-bedrock-input-token-count`` /
  ``x-amzn-bedrock-output-token-count`` response headers.
* Cohere embed with ``input_type: "image"``: ``vision`` {input: 1} (official SDK), from the request.

Streams: ``BedrockInvokeStreamUsage`` (decoded model chunks of InvokeModelWithResponseStream: Anthropic events,
else ``amazon-bedrock-invocationMetrics`` on the last chunk) and ``ConverseStreamUsage`` (the ``metadata``
event). Converse ``usage`` adds ``cacheReadInputTokens``, ``cacheWriteInputTokens`` and the ``cacheDetails`` TTL
breakdown (the official SDK ignores Converse cache tokens; we bill them). For Claude models on Converse (known from
``model_id``) the Anthropic 200k large-context rule applies, so Converse and InvokeModel agree.

Guardrails (``amazon-bedrock-trace.guardrail.input`` on InvokeModel, ``trace.guardrail.inputAssessment`` on
Converse; each assessment's ``invocationMetrics.usage``): ``guardrail_topic``, ``guardrail_content``,
``guardrail_word_free``, ``guardrail_sensitive_information``, ``guardrail_sensitive_information_free``,
``guardrail_contextual_grounding``, ``guardrail_automated_reasoning``, ``guardrail_content_image`` (all input).
Like the official SDK only input assessments count unless ``include_outputs=True``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from . import Units, add_units, as_int, put_unit
from ._common import mapping, non_empty_str
from .anthropic import AnthropicStreamUsage, anthropic_usage_units, cache_aware_units

__all__ = [
    "GUARDRAIL_UNIT_NAMES",
    "INPUT_TOKENS_HEADER",
    "OUTPUT_TOKENS_HEADER",
    "BedrockInvokeStreamUsage",
    "ConverseStreamUsage",
    "bedrock_converse_units",
    "bedrock_converse_usage_units",
    "bedrock_guardrail_units",
    "bedrock_header_units",
    "bedrock_invocation_metrics_units",
    "bedrock_invoke_guardrail_action",
    "bedrock_invoke_units",
    "cohere_embed_request_units",
    "is_anthropic_model",
]

INPUT_TOKENS_HEADER: Final = "x-amzn-bedrock-input-token-count"
OUTPUT_TOKENS_HEADER: Final = "x-amzn-bedrock-output-token-count"
CACHE_READ_HEADER: Final = "x-amzn-bedrock-cache-read-input-token-count"
CACHE_WRITE_HEADER: Final = "x-amzn-bedrock-cache-write-input-token-count"

GUARDRAIL_UNIT_NAMES: Final[tuple[tuple[str, str], ...]] = (
    ("topicPolicyUnits", "guardrail_topic"),
    ("contentPolicyUnits", "guardrail_content"),
    ("wordPolicyUnits", "guardrail_word_free"),
    ("automatedReasoningPolicyUnits", "guardrail_automated_reasoning"),
    ("sensitiveInformationPolicyUnits", "guardrail_sensitive_information"),
    ("sensitiveInformationPolicyFreeUnits", "guardrail_sensitive_information_free"),
    ("contextualGroundingPolicyUnits", "guardrail_contextual_grounding"),
    ("contentPolicyImageUnits", "guardrail_content_image"),
)
"""Bedrock ``GuardrailUsage`` field -> Pay-i unit (official SDK ``_BedrockProviderRequest.process_guardrails``)."""

_ANTHROPIC_EVENTS: Final = frozenset({"message_start", "message_delta", "message_stop"})


def is_anthropic_model(model_id: str | None) -> bool:
    """Claude on Bedrock (``anthropic.claude-…``, ``us.anthropic.claude-…``, profile ids naming claude)."""
    if not model_id:
        return False
    lowered = model_id.lower()
    return "anthropic" in lowered or "claude" in lowered


# --------------------------------------------------------------------------------------------- guardrails


def _assessments(value: Any) -> Iterator[Mapping[str, Any]]:
    """Guardrail assessments in a ``{guardrail id: assessment | [assessment]}`` map or a list of such maps."""
    if isinstance(value, Mapping):
        if "invocationMetrics" in value:
            yield value
            return
        for item in value.values():
            yield from _assessments(item)
    elif isinstance(value, list):
        for item in value:
            yield from _assessments(item)


def bedrock_guardrail_units(
    guardrail_trace: Mapping[str, Any] | None, *, include_outputs: bool = False
) -> Units:
    """Guardrail units of a guardrail trace (InvokeModel ``amazon-bedrock-trace.guardrail`` or Converse
    ``trace.guardrail``), summed over its input assessments (and output assessments with ``include_outputs``)."""
    units: Units = {}
    trace = mapping(guardrail_trace)
    keys: tuple[str, ...] = ("input", "inputAssessment")
    if include_outputs:
        keys += ("outputs", "output", "outputAssessments")
    for key in keys:
        for assessment in _assessments(trace.get(key)):
            usage = mapping(mapping(assessment.get("invocationMetrics")).get("usage"))
            for field, unit in GUARDRAIL_UNIT_NAMES:
                put_unit(units, unit, as_int(usage.get(field)))
    return units


def bedrock_invoke_guardrail_action(body: Mapping[str, Any] | None) -> str | None:
    """``amazon-bedrock-guardrailAction`` of an InvokeModel body or chunk (``INTERVENED`` / ``NONE``)."""
    return non_empty_str(mapping(body).get("amazon-bedrock-guardrailAction"))


# --------------------------------------------------------------------------------------------- token units


def bedrock_invocation_metrics_units(
    metrics: Mapping[str, Any] | None, *, model_id: str | None = None
) -> Units:
    """Units of ``amazon-bedrock-invocationMetrics`` (last chunk of an InvokeModelWithResponseStream)."""
    if not isinstance(metrics, Mapping) or not metrics:
        return {}
    return cache_aware_units(
        input_tokens=as_int(metrics.get("inputTokenCount")),
        output_tokens=as_int(metrics.get("outputTokenCount")),
        cache_read=as_int(metrics.get("cacheReadInputTokenCount")),
        cache_write=as_int(metrics.get("cacheWriteInputTokenCount")),
        large_context_rule=is_anthropic_model(model_id),
    )


def _first(mapping_: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = mapping_.get(key)
        if value is not None:
            return value
    return None


def _cache_details(details: Any) -> tuple[int, int]:
    """``(5m, 1h)`` cache-write tokens of a Converse ``cacheDetails`` list."""
    write_5m = write_1h = 0
    if isinstance(details, list):
        for detail in details:
            detail = mapping(detail)
            if detail.get("ttl") == "1h":
                write_1h += as_int(detail.get("inputTokens"))
            else:
                write_5m += as_int(detail.get("inputTokens"))
    return write_5m, write_1h


def bedrock_converse_usage_units(usage: Mapping[str, Any] | None, *, model_id: str | None = None) -> Units:
    """Units of a Converse / ConverseStream ``usage`` (``TokenUsage``) object."""
    if not isinstance(usage, Mapping) or not usage:
        return {}
    write_5m, write_1h = _cache_details(usage.get("cacheDetails"))
    return cache_aware_units(
        input_tokens=as_int(usage.get("inputTokens")),
        output_tokens=as_int(usage.get("outputTokens")),
        cache_read=as_int(_first(usage, "cacheReadInputTokens", "cacheReadInputTokenCount")),
        cache_write=as_int(_first(usage, "cacheWriteInputTokens", "cacheWriteInputTokenCount")),
        cache_write_5m=write_5m,
        cache_write_1h=write_1h,
        large_context_rule=is_anthropic_model(model_id),
    )


def bedrock_converse_units(
    response: Mapping[str, Any] | None, *, model_id: str | None = None, include_outputs: bool = False
) -> Units:
    """Units of a whole Converse response: token usage plus guardrail units from ``trace.guardrail``."""
    body = mapping(response)
    return add_units(
        bedrock_converse_usage_units(mapping(body.get("usage")), model_id=model_id),
        bedrock_guardrail_units(
            mapping(mapping(body.get("trace")).get("guardrail")), include_outputs=include_outputs
        ),
    )


def _header(headers: Mapping[str, str] | Iterable[tuple[str, str]] | None, name: str) -> str | None:
    if headers is None:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in items:
        if key.lower() == name:
            return value
    return None


def bedrock_header_units(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None, *, model_id: str | None = None
) -> Units:
    """Units from the InvokeModel response headers ``x-amzn-bedrock-{input,output}-token-count`` (and the cache
    read/write count headers when present). Header names are matched case-insensitively."""
    return cache_aware_units(
        input_tokens=as_int(_header(headers, INPUT_TOKENS_HEADER)),
        output_tokens=as_int(_header(headers, OUTPUT_TOKENS_HEADER)),
        cache_read=as_int(_header(headers, CACHE_READ_HEADER)),
        cache_write=as_int(_header(headers, CACHE_WRITE_HEADER)),
        large_context_rule=is_anthropic_model(model_id),
    )


def cohere_embed_request_units(request_json: Mapping[str, Any] | None) -> Units:
    """``vision`` {input: 1} for a Cohere embed request with ``input_type: "image"`` (official SDK: one image)."""
    body = mapping(request_json)
    images = body.get("images")
    if body.get("input_type") == "image" and isinstance(images, list) and images:
        return {"vision": {"input": 1}}
    return {}


def _model_body_units(
    body: Mapping[str, Any], *, model_id: str | None, text_token_estimate: int | None
) -> Units | None:
    """Token units from a model's InvokeModel body, or ``None`` when the body carries no recognisable usage."""
    usage = body.get("usage")
    if isinstance(usage, Mapping) and usage:
        if "input_tokens" in usage or "output_tokens" in usage:  # Anthropic Claude
            return anthropic_usage_units(usage, text_token_estimate=text_token_estimate)
        if "inputTokens" in usage or "outputTokens" in usage:  # Amazon Nova
            return bedrock_converse_usage_units(usage, model_id=model_id)
        if (
            "prompt_tokens" in usage or "completion_tokens" in usage
        ):  # OpenAI-compatible (gpt-oss, Jamba, ...)
            units: Units = {}
            put_unit(
                units, "text", as_int(usage.get("prompt_tokens")), as_int(usage.get("completion_tokens"))
            )
            return units
    if "prompt_token_count" in body or "generation_token_count" in body:  # Meta Llama
        units = {}
        put_unit(
            units, "text", as_int(body.get("prompt_token_count")), as_int(body.get("generation_token_count"))
        )
        return units
    if "inputTextTokenCount" in body:  # Amazon Titan text and embeddings
        results = body.get("results")
        output = (
            sum(as_int(mapping(r).get("tokenCount")) for r in results) if isinstance(results, list) else 0
        )
        units = {}
        put_unit(units, "text", as_int(body.get("inputTextTokenCount")), output)
        return units
    billed = mapping(mapping(usage).get("billed_units")) or mapping(
        mapping(body.get("meta")).get("billed_units")
    )
    if billed:  # Cohere (v2 ``usage.billed_units``, v1 ``meta.billed_units``)
        units = {}
        put_unit(units, "text", as_int(billed.get("input_tokens")), as_int(billed.get("output_tokens")))
        return units
    return None


def bedrock_invoke_units(
    body: Mapping[str, Any] | None,
    *,
    model_id: str | None = None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    request_json: Mapping[str, Any] | None = None,
    text_token_estimate: int | None = None,
    include_outputs: bool = False,
) -> Units:
    """Units of a non-streaming InvokeModel response: the model's body (JSON-decoded), its response headers
    (fallback when the body has no usage), the request (Cohere image embeddings), plus guardrail units."""
    data = mapping(body)
    image_units = cohere_embed_request_units(request_json)
    token_units = _model_body_units(data, model_id=model_id, text_token_estimate=text_token_estimate)
    if token_units is None:
        token_units = {} if image_units else bedrock_header_units(headers, model_id=model_id)
    guardrail = mapping(mapping(data.get("amazon-bedrock-trace")).get("guardrail"))
    return add_units(
        token_units, image_units, bedrock_guardrail_units(guardrail, include_outputs=include_outputs)
    )


# --------------------------------------------------------------------------------------------- streams


class BedrockInvokeStreamUsage:
    """Accumulates an InvokeModelWithResponseStream: feed each decoded model chunk (the JSON inside each
    ``chunk`` event's base64 ``bytes``).

    Claude streams are Anthropic events (merged like ``AnthropicStreamUsage``; the official SDK prices them the
    same way and ignores the invocation metrics). Other families are priced from
    ``amazon-bedrock-invocationMetrics`` on the last chunk, falling back to the family's own stream fields (Nova
    ``metadata.usage``, Llama ``prompt_token_count``/``generation_token_count``, Titan
    ``inputTextTokenCount``/``totalOutputTextTokenCount``) if the metrics are missing.
    """

    __slots__ = (
        "_anthropic",
        "_fallback",
        "_guardrail_input",
        "_guardrail_outputs",
        "guardrail_action",
        "include_outputs",
        "metrics",
        "model_id",
    )

    def __init__(
        self,
        *,
        model_id: str | None = None,
        text_token_estimate: int | None = None,
        include_outputs: bool = False,
    ) -> None:
        self.model_id = model_id
        self.include_outputs = include_outputs
        self._anthropic = AnthropicStreamUsage(text_token_estimate=text_token_estimate)
        self.metrics: dict[str, Any] | None = None
        self._fallback: dict[str, int] = {}
        self._guardrail_input: Any = None
        self._guardrail_outputs: list[Any] = []
        self.guardrail_action: str | None = None

    @property
    def model(self) -> str | None:
        """The model named inside the stream (Claude's ``message.model``), else None."""
        return self._anthropic.model

    @property
    def response_id(self) -> str | None:
        """The model's own response id (Claude's ``message.id``); the Bedrock request id is a response header."""
        return self._anthropic.response_id

    def feed(self, chunk: Mapping[str, Any]) -> bool:
        """Record one decoded model chunk; True when it carried usage."""
        if not isinstance(chunk, Mapping):
            return False
        carried = False
        guardrail = mapping(mapping(chunk.get("amazon-bedrock-trace")).get("guardrail"))
        if guardrail:
            if guardrail.get("input"):
                self._guardrail_input = guardrail.get("input")
            for key in ("outputs", "output"):
                if guardrail.get(key):
                    self._guardrail_outputs.append(guardrail.get(key))
        action = bedrock_invoke_guardrail_action(chunk)
        if action is not None:
            self.guardrail_action = action
        if chunk.get("type") in _ANTHROPIC_EVENTS:
            carried = self._anthropic.feed(chunk)
        metrics = chunk.get("amazon-bedrock-invocationMetrics")
        if isinstance(metrics, Mapping) and metrics:
            self.metrics = dict(metrics)
            carried = True
        return self._feed_fallback(chunk) or carried

    def _feed_fallback(self, chunk: Mapping[str, Any]) -> bool:
        found = False
        fields: dict[str, Any] = {}
        nova = mapping(mapping(chunk.get("metadata")).get("usage"))
        if nova:
            fields["input"] = nova.get("inputTokens")
            fields["output"] = nova.get("outputTokens")
            fields["cache_read"] = _first(nova, "cacheReadInputTokenCount", "cacheReadInputTokens")
            fields["cache_write"] = _first(nova, "cacheWriteInputTokenCount", "cacheWriteInputTokens")
        fields.setdefault("input", _first(chunk, "prompt_token_count", "inputTextTokenCount"))
        fields.setdefault("output", _first(chunk, "generation_token_count", "totalOutputTextTokenCount"))
        for key, value in fields.items():
            if value is not None:
                self._fallback[key] = as_int(value)
                found = True
        return found

    @property
    def has_usage(self) -> bool:
        return self._anthropic.has_usage or self.metrics is not None or bool(self._fallback)

    def units(self) -> Units:
        if self._anthropic.has_usage:
            tokens = self._anthropic.units()
        elif self.metrics is not None:
            tokens = bedrock_invocation_metrics_units(self.metrics, model_id=self.model_id)
        else:
            fallback = self._fallback
            tokens = cache_aware_units(
                input_tokens=fallback.get("input", 0),
                output_tokens=fallback.get("output", 0),
                cache_read=fallback.get("cache_read", 0),
                cache_write=fallback.get("cache_write", 0),
                large_context_rule=is_anthropic_model(self.model_id),
            )
        guardrail: dict[str, Any] = {"input": self._guardrail_input, "outputs": self._guardrail_outputs}
        return add_units(tokens, bedrock_guardrail_units(guardrail, include_outputs=self.include_outputs))


class ConverseStreamUsage:
    """Accumulates a ConverseStream: feed each event either as boto3 yields it (``{"metadata": {...}}``) or as
    the proxy decodes it (``feed(payload, event_type="metadata")``).

    The ``metadata`` event carries ``usage`` (and the guardrail ``trace``); ``messageStop`` the stop reason
    (``guardrail_intervened`` when a guardrail blocked). Converse streams name no model and no response id: use
    the request's ``modelId`` and the ``x-amzn-requestid`` response header.
    """

    __slots__ = ("_guardrail", "include_outputs", "metrics", "model_id", "stop_reason", "usage")

    def __init__(self, *, model_id: str | None = None, include_outputs: bool = False) -> None:
        self.model_id = model_id
        self.include_outputs = include_outputs
        self.usage: dict[str, Any] | None = None
        self.metrics: dict[str, Any] | None = None
        self.stop_reason: str | None = None
        self._guardrail: Mapping[str, Any] | None = None

    @property
    def model(self) -> str | None:
        """Always None: Converse streams do not name the model (price from the request's ``modelId``)."""
        return None

    @property
    def response_id(self) -> str | None:
        """Always None: the id of a Converse call is the ``x-amzn-requestid`` response header."""
        return None

    def feed(self, event: Mapping[str, Any], event_type: str | None = None) -> bool:
        """Record one event; True when it carried usage."""
        if not isinstance(event, Mapping):
            return False
        if event_type is not None:
            return self._feed_one(event_type, event)
        carried = False
        for kind, payload in event.items():
            if isinstance(payload, Mapping):
                carried = self._feed_one(kind, payload) or carried
        return carried

    def _feed_one(self, kind: str, payload: Mapping[str, Any]) -> bool:
        if kind == "messageStop":
            self.stop_reason = non_empty_str(payload.get("stopReason")) or self.stop_reason
            return False
        if kind != "metadata":
            return False
        metrics = payload.get("metrics")
        if isinstance(metrics, Mapping):
            self.metrics = dict(metrics)
        guardrail = mapping(mapping(payload.get("trace")).get("guardrail"))
        if guardrail:
            self._guardrail = guardrail
        usage = payload.get("usage")
        if isinstance(usage, Mapping) and usage:
            self.usage = dict(usage)
            return True
        return False

    @property
    def has_usage(self) -> bool:
        return self.usage is not None

    def units(self) -> Units:
        return add_units(
            bedrock_converse_usage_units(self.usage, model_id=self.model_id),
            bedrock_guardrail_units(self._guardrail, include_outputs=self.include_outputs),
        )
