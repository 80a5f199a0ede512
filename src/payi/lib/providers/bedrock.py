"""AWS Bedrock instrumentation (boto3 ``bedrock-runtime``): invoke, converse and both stream forms; proxy redirect.

``ClientCreator.create_client`` is patched; each new ``bedrock-runtime`` client gets its ``invoke_model``,
``invoke_model_with_response_stream``, ``converse`` and ``converse_stream`` replaced by instrumented versions and a
``request-created`` hook registered *last*, so it runs after SigV4 signing.

- Ingest mode: ``invoke_model``'s body is read at once and handed back as a fresh ``StreamingBody`` (so the
  event is sent even if the caller never reads it); the event streams (``body`` / ``stream``) are wrapped so
  usage is read as the caller iterates. The response id is the AWS ``RequestId``, the resource the ``modelId``.
- Proxy mode (a context with ``proxy=True``): the hook sends the already-signed request to
  ``{Pay-i}/api/v1/proxy/aws.bedrock{original path}`` with ``xProxy-Api-Key`` and
  ``xProxy-Provider-BaseUri: <scheme>://<original host>``; path, query, body and signed headers are unchanged.

Example:
    >>> # payi_instrument(payi); boto3.client("bedrock-runtime").converse(modelId="...", messages=[...])
"""

from __future__ import annotations

import functools
import io
import json
import logging
from typing import Any

import boto3
from botocore.response import StreamingBody

from ...types.ingest_units_params import FunctionCallInfoParam
from .._instrumentor import ACTIVE, wrap
from .._invoke import Call, compact_json, invoke_sync
from .._streams import StreamProxy
from ..helpers import PayiCategories, PayiPropertyNames
from ..units._common import mapping
from ..units.bedrock import (
    BedrockInvokeStreamUsage,
    ConverseStreamUsage,
    bedrock_converse_units,
    bedrock_invoke_guardrail_action,
    bedrock_invoke_units,
)
from ._tools import stream_tool_uses, tool_uses

__all__ = ["install"]

MODULE = f"boto3/{boto3.__version__}"
_OPERATIONS = frozenset({"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"})
_GUARDRAIL_DESCRIPTION = "Bedrock Guardrails intervened"


class _FailedBody:
    """The ``body`` of an InvokeModel response whose reading failed: raises the same error when read."""

    def __init__(self, error: BaseException) -> None:
        self._error = error

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        raise self._error

    def close(self) -> None:
        pass


def _json(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return None


def _converse_tool_uses(content: Any) -> list[FunctionCallInfoParam]:
    calls: list[FunctionCallInfoParam] = []
    for item in content or ():
        tool = mapping(mapping(item).get("toolUse"))
        if tool.get("name"):
            arguments = tool.get("input")
            calls.append({"name": tool["name"], "arguments": json.dumps(arguments) if arguments else None})
    return calls


def _converse_stream_tool_uses(events: list[Any]) -> list[FunctionCallInfoParam]:
    building: dict[int, list[str]] = {}
    for event in events:
        event = mapping(event)
        start = mapping(event.get("contentBlockStart"))
        tool = mapping(mapping(start.get("start")).get("toolUse"))
        if tool and isinstance(start.get("contentBlockIndex"), int):
            building[start["contentBlockIndex"]] = [str(tool.get("name") or ""), ""]
        delta = mapping(event.get("contentBlockDelta"))
        tool = mapping(mapping(delta.get("delta")).get("toolUse"))
        if tool and delta.get("contentBlockIndex") in building:
            building[delta["contentBlockIndex"]][1] += str(tool.get("input") or "")
    return [{"name": name, "arguments": arguments or None} for name, arguments in building.values() if name]


def _guardrail_stopped(call: Call, action: str | None) -> None:
    if action in ("INTERVENED", "guardrail_intervened"):
        call.properties[PayiPropertyNames.failure] = action
        call.properties[PayiPropertyNames.failure_description] = _GUARDRAIL_DESCRIPTION
        call.properties[PayiPropertyNames.aws_bedrock_guardrail_action] = action


class BedrockAdapter:
    """One of ``invoke``, ``invoke_stream``, ``converse``, ``converse_stream``."""

    supports_headers = False

    def __init__(self, kind: str) -> None:
        self.kind = kind

    # ---------------------------------------------------------------------------- the caller's thread

    def start(self, call: Call, instance: Any, kwargs: dict[str, Any]) -> None:
        call.category = PayiCategories.aws_bedrock
        call.module = MODULE
        call.provider_uri = getattr(getattr(instance, "_endpoint", None), "host", None)
        model = kwargs.get("modelId")
        call.model = model if isinstance(model, str) and model else None
        call.mappings = call.inst.settings.bedrock_mappings
        call.stream = self.kind.endswith("stream")
        trace = call.inst.settings.guardrail_trace
        if self.kind.startswith("invoke"):
            guardrail_id, version = kwargs.get("guardrailIdentifier"), kwargs.get("guardrailVersion")
            if guardrail_id and version and trace and not kwargs.get("trace"):
                kwargs["trace"] = "ENABLED"
        else:
            config = kwargs.get("guardrailConfig")
            config = config if isinstance(config, dict) else {}
            guardrail_id, version = config.get("guardrailIdentifier"), config.get("guardrailVersion")
            if guardrail_id and version and trace and not config.get("trace"):
                kwargs["guardrailConfig"] = {**config, "trace": "enabled"}
        if guardrail_id:
            call.properties[PayiPropertyNames.aws_bedrock_guardrail_id] = str(guardrail_id)
        if version:
            call.properties[PayiPropertyNames.aws_bedrock_guardrail_version] = str(version)

    def respond(self, call: Call, result: Any) -> Any:
        if not isinstance(result, dict):
            call.complete(result)
            return result
        metadata = result.get("ResponseMetadata") or {}
        call.response_id = metadata.get("RequestId") or None
        call.response_headers = metadata.get("HTTPHeaders")
        if self.kind == "invoke":
            body = result.get("body")
            try:
                data = body.read() if body is not None else b""
            except Exception as exc:
                result["body"] = _FailedBody(exc)
                call.fail(exc)
                return result
            result["body"] = StreamingBody(io.BytesIO(data), len(data))
            call.complete(data)
        elif self.kind == "converse":
            call.complete(dict(result))
        else:
            key = "body" if "body" in result else "stream"
            result[key] = StreamProxy(result[key], call)
        return result

    def proxy_result(self, result: Any) -> Any:
        return None  # Bedrock bodies are bytes or event streams: not parsed on the caller's thread

    # ---------------------------------------------------------------------------- the sender's thread

    def extract(self, call: Call) -> None:
        log = call.attribution.log_prompt_and_response
        if self.kind == "invoke":
            raw: bytes = call.response or b""
            body = mapping(_json(raw))
            call.units = bedrock_invoke_units(
                body,
                model_id=call.model,
                headers=call.response_headers,
                request_json=_json(call.kwargs.get("body")),
            )
            call.function_calls = tool_uses(body.get("content")) or _converse_tool_uses(
                mapping(mapping(body.get("output")).get("message")).get("content")
            )
            _guardrail_stopped(call, bedrock_invoke_guardrail_action(body))
            if log:
                call.response_json = raw.decode("utf-8", errors="replace")
        elif self.kind == "converse":
            response = {k: v for k, v in mapping(call.response).items() if k != "ResponseMetadata"}
            call.units = bedrock_converse_units(response, model_id=call.model)
            call.function_calls = _converse_tool_uses(
                mapping(mapping(response.get("output")).get("message")).get("content")
            )
            _guardrail_stopped(call, response.get("stopReason"))
            if log:
                call.response_json = compact_json(response)
        elif self.kind == "invoke_stream":
            decoded = [
                _json(mapping(mapping(event).get("chunk")).get("bytes")) for event in call.chunks or ()
            ]
            chunks = [chunk for chunk in decoded if isinstance(chunk, dict)]
            usage = BedrockInvokeStreamUsage(model_id=call.model)
            for chunk in chunks:
                usage.feed(chunk)
            call.units = usage.units()
            call.function_calls = stream_tool_uses(chunks)
            _guardrail_stopped(call, usage.guardrail_action)
            if log:
                call.response_json = [compact_json(chunk) for chunk in chunks]
        else:
            events = [mapping(event) for event in call.chunks or ()]
            converse = ConverseStreamUsage(model_id=call.model)
            for event in events:
                converse.feed(event)
            call.units = converse.units()
            call.function_calls = _converse_stream_tool_uses(events)
            _guardrail_stopped(call, converse.stop_reason)
            if log:
                call.response_json = [compact_json(event) for event in events]

    def extract_error(self, call: Call, exc: BaseException) -> None:
        response = getattr(exc, "response", None)
        if not isinstance(response, dict):
            return
        metadata = mapping(response.get("ResponseMetadata"))
        status = metadata.get("HTTPStatusCode")
        if isinstance(status, int) and status:
            call.status = status
        if metadata.get("RequestId"):
            call.response_id = str(metadata["RequestId"])
        if metadata.get("HTTPHeaders"):
            call.response_headers = metadata["HTTPHeaders"]
        if response.get("Error") and call.attribution.log_prompt_and_response:
            call.response_json = compact_json(response["Error"])


_ADAPTERS = {
    "invoke_model": BedrockAdapter("invoke"),
    "invoke_model_with_response_stream": BedrockAdapter("invoke_stream"),
    "converse": BedrockAdapter("converse"),
    "converse_stream": BedrockAdapter("converse_stream"),
}


def _method(original: Any, client: Any, adapter: BedrockAdapter) -> Any:
    @functools.wraps(original)
    def method(*args: Any, **kwargs: Any) -> Any:
        return invoke_sync(ACTIVE.instrumentor, adapter, original, client, args, kwargs)

    return method


def _redirect(request: Any, event_name: str = "", **_: Any) -> None:
    """``request-created`` hook (after signing): in proxy mode, send the request through Pay-i."""
    inst = ACTIVE.instrumentor
    if inst is None or event_name.rsplit(".", 1)[-1] not in _OPERATIONS:
        return
    frame = (
        inst.current() or inst.base
    )  # proxy mode redirects even outside any context, as the official SDK does
    if frame is None or not frame.proxy:
        return
    try:
        inst.bedrock_redirect(request, frame)
    except Exception:  # noqa: BLE001
        inst.internal_error("redirecting a Bedrock request to Pay-i")


def _create_client(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    client = wrapped(*args, **kwargs)
    service = kwargs.get("service_name", args[0] if args else None)
    if service != "bedrock-runtime":
        return client
    try:
        for name, adapter in _ADAPTERS.items():
            setattr(client, name, _method(getattr(client, name), client, adapter))
        client.meta.events.register_last(
            "request-created.bedrock-runtime", _redirect, unique_id="payi-bedrock-proxy"
        )
    except Exception:  # noqa: BLE001 - an unexpected client shape: leave it uninstrumented
        logging.getLogger("payi.instrument").debug(
            "Pay-i: could not instrument a bedrock-runtime client", exc_info=True
        )
    return client


def install(logger: logging.Logger) -> None:
    """Patch botocore's client factory (once per process); clients created before this are not instrumented."""
    wrap("botocore.client", "ClientCreator.create_client", _create_client, logger)
