"""Property-based run of every REST operation in ``/openapi.json`` (schemathesis, in-process ASGI app).

One pytest test per operation and database (the operations are read from the document at collection time, so a
new route is fuzzed without anyone listing it). Each generated case, valid (positive) and schema-violating
(negative), is sent with an application key and with an organisation key: for most operations one of them is
the wrong kind (403), the other reaches the handler. Every answer must be below 500, conform to the document
(status code, content type, headers, body schema), reject schema-violating input with a 4xx, refuse a missing
key, and every error must carry the Pay-i error body without echoing the key.

The proxy route is kept out of the document on purpose; ``test_hostile_input`` fuzzes it with hypothesis.

schemathesis' own pytest plugin (``schema.parametrize()``) does not run on pytest 9.2 (it writes
``Node._nodeid``), so the operations are parametrized here and each one is run with ``operation.as_strategy()``
under ``hypothesis.given``: the same generation and the same checks.
"""

# ruff: noqa: E402  (schemathesis is imported through pytest.importorskip first)
from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

# Not a project dependency yet: until the test extra pins it, this module is skipped (and says why in -ra).
schemathesis = pytest.importorskip("schemathesis", minversion="4.32", reason="pin schemathesis==4.32.5 in the test extra")

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    CheckContext,
    Failure,
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from schemathesis.python import asgi as schemathesis_asgi

from payi_server.app import create_app
from payi_server.auth.keys import KeyHasher
from payi_server.auth.manage import Tenancy
from payi_server.settings import Settings, load_settings, resolve_secret
from payi_server.store.engine import Database
from tests.conftest import BACKENDS, TEST_SECRET, _fresh_database, make_settings

from .conftest import Tenants, assert_payi_error, seed_tenants

# Examples per operation and generation mode. CI runs a fixed (derandomized) set; for a longer exploratory run:
# PAYI_FUZZ_EXAMPLES=200 PAYI_FUZZ_RANDOM=1 python -m pytest tests/hostile/test_fuzz_openapi.py
EXAMPLES = int(os.environ.get("PAYI_FUZZ_EXAMPLES", "10"))
DERANDOMIZE = not os.environ.get("PAYI_FUZZ_RANDOM")


def _operations() -> list[tuple[str, str, bool]]:
    """(METHOD, path, negatable) of every operation in the document (built from an app that is never started);
    ``negatable``: the operation takes parameters or a body, so schema-violating input may be made for it."""
    app = create_app(load_settings(database_url="sqlite:///unused.db", secret_key=TEST_SECRET))
    spec = app.openapi()
    return sorted(
        (method.upper(), path, _negatable(operation))
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "patch", "delete"}
    )


def _negatable(operation: dict[str, Any]) -> bool:
    """A body or query parameters can always be made invalid; a path parameter only if it is more than "a string"
    (every non-empty string is a valid segment)."""
    if operation.get("requestBody"):
        return True
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter["in"] != "path" or set(schema) - {"type", "title", "minLength"} or schema.get("type") != "string":
            return True
    return False


OPERATIONS = _operations()


@dataclass
class FuzzTarget:
    app: Any
    settings: Settings
    tenants: Tenants
    keys: dict[str, str] = field(default_factory=dict)
    schema: Any = None

    def whoami(self, key: str) -> int:
        client = schemathesis_asgi.get_client(self.app)
        with client:
            return int(client.get("http://testserver/api/v1/whoami", headers={"xProxy-api-key": key}).status_code)

    def replace_lost_keys(self) -> None:
        """A fuzzed admin call may revoke our own keys or delete our application (ids are small integers):
        issue new ones so the next examples still reach the handlers."""
        if self.whoami(self.keys["organization"]) == 401:
            self.keys["organization"] = asyncio.run(self._new_key(org=True))
        if self.whoami(self.keys["application"]) == 401:
            self.keys["application"] = asyncio.run(self._new_key(org=False))

    async def _new_key(self, *, org: bool) -> str:
        db = Database(self.settings.sqlalchemy_url, pool_size=1)
        try:
            tenancy = Tenancy(db, KeyHasher(resolve_secret(self.settings)))
            if org:
                return (await tenancy.create_org_key(self.tenants.org_a, label="fuzz")).plaintext
            _app, keys = await tenancy.create_application(self.tenants.org_a, f"fuzz-{id(self)}-{len(self.keys)}")
            self.keys[f"spare-{len(self.keys)}"] = keys[1].plaintext
            return keys[0].plaintext
        finally:
            await db.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_target(request: pytest.FixtureRequest, db_templates: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    """One database and one app per backend for the whole module (operations run one after another on it)."""
    tmp = tmp_path_factory.mktemp("fuzz")
    url, cleanup = _fresh_database(request.param, db_templates, tmp)
    try:
        settings_ = make_settings(url, tmp / "data")
        tenants = seed_tenants(settings_)
        app = create_app(settings_)
        target = FuzzTarget(
            app=app,
            settings=settings_,
            tenants=tenants,
            keys={"application": tenants.app_a_key, "organization": tenants.org_a_key},
        )
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        # Unknown query parameters are ignored, as HTTP APIs do (OpenAPI does not forbid them), so they are not
        # "schema-violating input". The key header is set by the test for every case (both kinds), and its
        # absence is checked by `ignored_auth` / `missing_required_header`.
        schema.config.generation.update(allow_extra_parameters=False, with_security_parameters=False)
        target.schema = schema
        try:
            yield target
        finally:
            schemathesis_asgi.shutdown_lifespans()
    finally:
        cleanup()


def payi_error_body(ctx: CheckContext, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx answer carries the Pay-i error body and echoes no key."""
    if response.status_code < 400:
        return None
    sent = [v for k, v in response.request.headers.items() if k.lower() == "xproxy-api-key"]
    try:
        body = response.json()
    except Exception as exc:  # noqa: BLE001 - any decoding problem is the failure
        raise Failure(operation=case.operation.label, title="Error body is not JSON", message=str(exc)) from None
    try:
        assert_payi_error(response.status_code, body, *sent)
    except AssertionError as exc:
        raise Failure(operation=case.operation.label, title="Error body is not the Pay-i shape", message=str(exc)) from None
    return True


def rejects_invalid_input(ctx: CheckContext, response: Any, case: Any) -> bool | None:
    """schemathesis' ``negative_data_rejection``, except when the only "violations" are type changes of query
    values: a query string is text, so ``limit=8.0`` or a parameter given twice are not invalid input."""
    mutations = getattr(getattr(getattr(case, "meta", None), "phase", None), "data", None)
    mutations = getattr(mutations, "mutations", ()) or ()
    if mutations and all(
        m.parameter_location.value == "query" and set(m.keywords) <= {"type", "anyOf"} for m in mutations
    ):
        return None
    return negative_data_rejection(ctx, response, case)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    rejects_invalid_input,
    missing_required_header,
    ignored_auth,
    unsupported_method,
    payi_error_body,
]

RESENDING = (missing_required_header, ignored_auth, unsupported_method)

# Known gaps in the document, owned elsewhere: each names the check it disables for one operation, and
# `test_known_document_gaps_are_still_open` fails once the gap is closed, so the entry gets removed.
DOCUMENT_GAPS: dict[tuple[str, str], tuple[Any, str]] = {}


@pytest.mark.parametrize(("method", "path", "negatable"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_operation(method: str, path: str, negatable: bool, fuzz_target: FuzzTarget) -> None:
    operation = fuzz_target.schema[path][method]
    gap = DOCUMENT_GAPS.get((method, path))
    checks = [check for check in CHECKS if gap is None or check is not gap[0]]
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if negatable else [GenerationMode.POSITIVE]
    for mode in modes:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=DERANDOMIZE,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            for kind in ("application", "organization"):
                headers = {"xProxy-api-key": fuzz_target.keys[kind]}
                response = case.call(headers=headers)
                # The checks that send requests of their own (no key, another method) run once per case.
                used = checks if kind == "application" else [c for c in checks if c not in RESENDING]
                case.validate_response(response, checks=used, headers=headers)
            if method != "GET" and "/admin/" in path:
                fuzz_target.replace_lost_keys()

        try:
            run()
        except Unsatisfiable:
            # Nothing schema-violating can be sent (e.g. a lone string path parameter: any string is valid).
            assert mode is GenerationMode.NEGATIVE


def test_every_document_gap_is_still_open() -> None:
    """A gap listed in DOCUMENT_GAPS that the document has closed must be taken off the list (none are open now:
    the report routes declare their CSV and JSONL answers)."""
    app = create_app(load_settings(database_url="sqlite:///unused.db", secret_key=TEST_SECRET))
    for method, path in DOCUMENT_GAPS:
        declared = app.openapi()["paths"][path][method.lower()]["responses"]["200"].get("content", {})
        assert set(declared) == {"application/json"}, f"{method} {path} now declares {sorted(declared)}: drop its gap"
    reports = app.openapi()["paths"]["/api/v1/reports/spend"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv"} <= set(reports)
