"""The OpenAPI document, made to say what the service really answers.

Routes state what they answer with ``**answers(model, ...)`` (a model of ``api.schemas``; documentation only,
nothing is validated or filtered at run time). FastAPI documents a ``422`` on every operation and no other
error; the service never answers ``422``: every error is the Pay-i error body (``payi_server.errors``). So the
generated document is rewritten once:

- ``ErrorBody`` goes into the components, and every operation lists the error statuses it can answer, each with
  that schema: ``400`` (bad input, bad ``Content-Length``), ``413`` and ``431`` (body or headers over the limit,
  checked for every request) everywhere; ``401`` and ``429`` (a missing or bad key, an address throttled for bad keys) and ``503``
  (database unreachable) on every operation that takes a key; ``403`` on those that admit one kind of key
  only; ``404`` on those with path parameters. A route adds its own with ``answers(..., errors=(409,))``.
- Routes that read their path segments from the raw path (names may hold an escaped "/") take no path
  parameters in Python; each ``{name}`` of their path is declared here as a string parameter.
- ``$defs`` that a route's hand-written schema carries (``openapi_extra`` of the raw-body routes) move into
  ``components/schemas``, where their ``$ref`` point.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from ..auth.dependency import route_table
from ..auth.keys import KeyKind
from .schemas import ErrorBody

ERROR_REF = "#/components/schemas/ErrorBody"

_DESCRIPTIONS = {
    400: "Bad request (invalid body, parameter or header)",
    401: "Missing, invalid or expired api key",
    403: "The api key is of the wrong kind for this operation",
    404: "Not found",
    409: "Conflict (the object exists already)",
    413: "Request body too large",
    431: "Too many or too large headers",
    429: "Too many failed api keys from this address",
    503: "Database unreachable; retry later",
}

_RETRY_AFTER = {"schema": {"type": "string"}, "description": "Seconds to wait before trying again"}


def answers(
    model: Any, *, status: int = 200, also: dict[int, str] | None = None, errors: tuple[int, ...] = ()
) -> dict[str, Any]:
    """Decorator arguments that document what a route answers (a model of ``api.schemas``) without validating
    or filtering the answer: ``@router.get(path, **answers(Limit))``. ``also``: other success statuses with the
    same body; ``errors``: error statuses beyond the ones every route gets."""
    responses: dict[int | str, dict[str, Any]] = {status: {"model": model, "description": "Successful Response"}}
    for other, description in (also or {}).items():
        responses[other] = {"model": model, "description": description}
    for code in errors:
        responses[code] = {"description": _DESCRIPTIONS.get(code, "Error")}
    return {"response_model": None, "responses": responses}


def _error_response(status: int, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description or _DESCRIPTIONS.get(status, "Error"),
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }
    if status == 429:
        response["headers"] = {"retry-after": {**_RETRY_AFTER, "required": True}}
    elif status == 503:
        response["headers"] = {"retry-after": _RETRY_AFTER}
    return response


def _hoist_defs(node: Any, components: dict[str, Any]) -> None:
    """Move every nested ``$defs`` into the components (their ``$ref`` are written to point there)."""
    if isinstance(node, dict):
        defs = node.pop("$defs", None)
        if isinstance(defs, dict):
            for name, schema in defs.items():
                components.setdefault(name, schema)
                _hoist_defs(schema, components)
        for value in node.values():
            _hoist_defs(value, components)
    elif isinstance(node, list):
        for value in node:
            _hoist_defs(value, components)


def _declare_path_parameters(path: str, operation: dict[str, Any]) -> None:
    parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
    declared = {p.get("name") for p in parameters if p.get("in") == "path"}
    for name in re.findall(r"\{([^}:]+)(?::[^}]*)?\}", path):
        if name not in declared:
            parameters.append(
                {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1, "title": name}}
            )
    if not parameters:
        operation.pop("parameters")


def document_errors(spec: dict[str, Any], access: dict[tuple[str, str], frozenset[KeyKind]]) -> None:
    """Rewrite a generated document in place (see the module docstring)."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            _hoist_defs(operation, schemas)
            _declare_path_parameters(path, operation)
            responses: dict[str, Any] = operation["responses"]
            responses.pop("422", None)
            statuses = {400, 413, 431}
            kinds = access.get((method.upper(), path))
            if kinds is not None:
                statuses |= {401, 429, 503}
                if len(kinds) < len(KeyKind):
                    statuses.add(403)
            if "{" in path:
                statuses.add(404)
            if path == "/readyz":
                statuses.add(503)
            for status in statuses:
                responses.setdefault(str(status), _error_response(status))
            for code, response in responses.items():
                if code[:1] in ("4", "5") and "content" not in response:
                    responses[code] = _error_response(int(code), response.get("description"))
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    error_body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    _hoist_defs(error_body, schemas)
    schemas["ErrorBody"] = error_body


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the rewritten document (generated once, as FastAPI does)."""
    generate: Callable[[], dict[str, Any]] = app.openapi
    done: list[int] = []

    def openapi() -> dict[str, Any]:
        spec = generate()
        if id(spec) not in done:
            access = {
                (method.upper(), re.sub(r"\{([^}:]+):[^}]*\}", r"{\1}", path)): kinds
                for path, methods, kinds in route_table(app.router.routes)
                if isinstance(kinds, frozenset)
                for method in methods
            }
            document_errors(spec, access)
            done[:] = [id(spec)]
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
