"""Google GenAI instrumentation (``google-genai``, the Gemini API and Vertex AI): ``models.generate_content`` and
``models.generate_content_stream``, sync (``client.models``) and async (``client.aio.models``).

Category ``system.google.vertex`` for both backends, resource ``google.<model_version>`` (the official SDK's
names); the provider URI is the client's base URL. Gemini repeats the cumulative usage in every stream chunk, so a
stream is metered from its last chunk that carries usage. Units: :mod:`payi.lib.units.google`.

Example:
    >>> # payi_instrument(payi); genai.Client().models.generate_content(model="gemini-2.5-flash", contents="Hi")
"""

from __future__ import annotations

import json
import logging
from typing import Any

import google.genai
from google.genai import errors

from ...types.ingest_units_params import FunctionCallInfoParam
from .._instrumentor import async_wrapper, sync_wrapper, wrap
from .._invoke import Call, chunk_json, compact_json, to_jsonable
from .._streams import AsyncStreamProxy, StreamProxy
from ..helpers import PayiCategories
from ..units._common import mapping
from ..units.google import count_characters, gemini_has_usage, gemini_units

__all__ = ["install"]

MODULE = f"google-genai/{google.genai.__version__}"
PREFIX = "google."


def _function_calls(response: dict[str, Any]) -> list[FunctionCallInfoParam]:
    calls: list[FunctionCallInfoParam] = []
    for candidate in response.get("candidates") or ():
        for part in mapping(mapping(candidate).get("content")).get("parts") or ():
            function = mapping(mapping(part).get("function_call"))
            if function.get("name"):
                arguments = function.get("args")
                calls.append(
                    {
                        "name": str(function["name"]),
                        "arguments": json.dumps(arguments, ensure_ascii=False) if arguments else None,
                    }
                )
    return calls


def _texts(value: Any) -> list[str]:
    """Every ``text`` of a request's ``contents`` (a string, parts, contents, or lists of them)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    if isinstance(value, dict):
        found = [value["text"]] if isinstance(value.get("text"), str) else []
        return found + _texts(value.get("parts"))
    return []


class GenerateAdapter:
    """``generate_content`` (one response) or ``generate_content_stream`` (an iterator of responses)."""

    supports_headers = False

    def __init__(self, stream: bool) -> None:
        self.stream = stream

    # ---------------------------------------------------------------------------- the caller's thread

    def start(self, call: Call, instance: Any, kwargs: dict[str, Any]) -> None:
        call.category = PayiCategories.google_vertex
        call.module = MODULE
        api_client = getattr(instance, "_api_client", None)
        base_url = getattr(getattr(api_client, "_http_options", None), "base_url", None)
        call.provider_uri = str(base_url) if base_url else None
        model = kwargs.get("model")
        if isinstance(model, str) and model:
            call.model = PREFIX + model.rsplit("/", 1)[-1]  # "publishers/google/models/x" -> "x"
        call.stream = self.stream

    def respond(self, call: Call, result: Any) -> Any:
        if self.stream:
            if hasattr(result, "__aiter__"):
                return AsyncStreamProxy(result, call)
            return StreamProxy(result, call)
        call.complete(result)
        return result

    def proxy_result(self, result: Any) -> Any:
        return None  # Pay-i has no Gemini proxy route

    # ---------------------------------------------------------------------------- the sender's thread

    def extract(self, call: Call) -> None:
        if call.stream:
            chunks = [to_jsonable(chunk) for chunk in call.chunks or ()]
            chunks = [chunk for chunk in chunks if isinstance(chunk, dict)]
            last = next((chunk for chunk in reversed(chunks) if gemini_has_usage(chunk)), None)
            first = chunks[0] if chunks else {}
            final = last or (chunks[-1] if chunks else {})
            answer = count_characters(
                mapping(part).get("text")
                for chunk in chunks
                for candidate in chunk.get("candidates") or ()
                for part in mapping(mapping(candidate).get("content")).get("parts") or ()
            )
            call.function_calls = [fc for chunk in chunks for fc in _function_calls(chunk)]
            if call.attribution.log_prompt_and_response:
                call.response_json = [chunk_json(chunk) for chunk in call.chunks or ()]
        else:
            data = to_jsonable(call.response)
            if not isinstance(data, dict):
                return
            first = final = data
            answer = None
            call.function_calls = _function_calls(data)
            if call.attribution.log_prompt_and_response:
                call.response_json = [compact_json(data)]
        version = final.get("model_version") or first.get("model_version")
        if isinstance(version, str) and version:
            call.resource = PREFIX + version
        response_id = final.get("response_id") or first.get("response_id")
        call.response_id = response_id if isinstance(response_id, str) and response_id else None
        headers = mapping(mapping(first.get("sdk_http_response")).get("headers"))
        if headers:
            call.response_headers = headers
        prompt = count_characters(_texts(to_jsonable(call.kwargs.get("contents"))))
        call.units = gemini_units(
            call.resource or call.model, final, prompt_characters=prompt, answer_characters=answer
        )

    def extract_error(self, call: Call, exc: BaseException) -> None:
        if not isinstance(exc, errors.APIError):
            return
        if isinstance(exc.code, int):
            call.status = exc.code
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        if headers is not None:
            call.response_headers = headers
        if call.attribution.log_prompt_and_response:
            call.response_json = compact_json(to_jsonable(exc.details))


GENERATE = GenerateAdapter(stream=False)
STREAM = GenerateAdapter(stream=True)


def install(logger: logging.Logger) -> None:
    """Patch google-genai's model methods (once per process)."""
    wrap("google.genai.models", "Models.generate_content", sync_wrapper(GENERATE), logger)
    wrap("google.genai.models", "Models.generate_content_stream", sync_wrapper(STREAM), logger)
    wrap("google.genai.models", "AsyncModels.generate_content", async_wrapper(GENERATE), logger)
    wrap("google.genai.models", "AsyncModels.generate_content_stream", async_wrapper(STREAM), logger)
