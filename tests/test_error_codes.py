"""The error-code registry (``payi_server.error_codes``) is every code the API answers with, no more and no less,
with the statuses it comes with and every message it is answered with; ``docs/error-codes.md`` shows exactly that.

The codes in use are read from the source: every ``ApiError(status, code, ...)``, ``error_body(...)``,
``not_found(code, ...)`` / ``bad_request(code, ...)``; codes handed to a function through its ``code`` parameter
(``parse_id(value, "application_not_found", ...)``, the limit checks); module constants used as codes; the
framework's own codes (``_HTTP_CODES``) and the per-route validation codes (``tag_validation_codes``).

Messages: no raise site writes one. ``ApiError(...)`` / ``error_body(...)`` with a literal message, or any call that
names a registered code next to a literal text, fails; every ``api_error(code, variant, **fields)`` and
``message(...)`` must name a registered variant and exactly the fields its template has (for a code handed in
through a ``code`` parameter, every code the function is called with).
"""

from __future__ import annotations

import ast
import string
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from payi_server.error_codes import ERROR_CODES, markdown_messages, markdown_table

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "payi_server"
_RAISERS = {"ApiError": 0, "error_body": 0, "__init__": 1}  # name -> index of the status argument
_HELPERS: dict[str, int] = {}
_LOOKUPS = {"api_error", "message"}  # (code, variant="", /, **fields): the registry's messages
_OPTIONS = {"status", "headers", "xproxy_result", "top_message"}  # api_error's keywords that are not fields
# Lookups whose code is a local variable: the codes it can hold there.
_LOCAL_CODES = {
    ("api/errors.py", "_http_error"): {"request_processing_error", "not_found", "method_not_allowed",
                                       "request_too_large", "unsupported_media_type"},
    ("api/errors.py", "describe_validation"): {"invalid_request", "required_field_missing"},
}


def _constants(tree: ast.Module) -> dict[str, str]:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def _name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _codes_of(node: ast.expr | None, constants: dict[str, str]) -> list[str] | None:
    """The code(s) an expression can be, or None when it is not known here."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in constants:
        return [constants[node.id]]
    if isinstance(node, ast.IfExp):
        body, orelse = _codes_of(node.body, constants), _codes_of(node.orelse, constants)
        return body + orelse if body is not None and orelse is not None else None
    return None


def codes_in_use() -> dict[str, set[int | None]]:
    trees = {path: ast.parse(path.read_text()) for path in sorted(SOURCE.rglob("*.py"))}
    all_constants: dict[str, str] = {}
    for tree in trees.values():
        all_constants.update(_constants(tree))
    # Functions that take a code as a parameter named "code" (or "what", for check_text's "invalid_" + what).
    code_params: dict[str, int] = {}
    without: set[str] = set()  # names also defined without a code parameter: ambiguous, not followed
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [a.arg for a in node.args.args]
                if "code" in names:
                    code_params[node.name] = names.index("code") - (1 if names and names[0] == "self" else 0)
                else:
                    without.add(node.name)
    for name in without:
        code_params.pop(name, None)
    used: dict[str, set[int | None]] = defaultdict(set)
    unknown = []
    for path, tree in trees.items():
        constants = {**all_constants, **_constants(tree)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_HTTP_CODES" for t in node.targets):
                assert isinstance(node.value, ast.Dict)
                for key, value in zip(node.value.keys, node.value.values, strict=True):
                    assert isinstance(key, ast.Constant) and isinstance(value, ast.Constant)
                    used[value.value].add(key.value)
            if not isinstance(node, ast.Call):
                continue
            name = _name(node)
            if name == "tag_validation_codes":
                mapping = node.args[1]
                assert isinstance(mapping, ast.Dict)
                for value in mapping.values:
                    for code in _codes_of(value, constants) or []:
                        used[code].add(400)
            elif name == "check_text" and len(node.args) >= 2:
                for what in _codes_of(node.args[1], constants) or []:
                    used["invalid_" + what].add(400)
            elif name in _RAISERS and len(node.args) > _RAISERS[name] + 1:
                index = _RAISERS[name]
                if name == "__init__" and not (isinstance(node.func, ast.Attribute) and ast.unparse(node.func.value) == "ApiError"):
                    continue
                status = node.args[index].value if isinstance(node.args[index], ast.Constant) else None
                codes = _codes_of(node.args[index + 1], constants)
                if codes is None:
                    unknown.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                for code in codes or []:
                    used[code].add(status)
            elif name in _LOOKUPS and node.args:
                status_kw = next((k.value for k in node.keywords if k.arg == "status"), None)
                status = status_kw.value if isinstance(status_kw, ast.Constant) else None
                for code in _codes_of(node.args[0], constants) or []:
                    used[code].add(status if name == "api_error" else None)
            elif name in _HELPERS and node.args:
                for code in _codes_of(node.args[0], constants) or []:
                    used[code].add(_HELPERS[name])
            elif name in code_params:
                index = code_params[name]
                arg = node.args[index] if len(node.args) > index else next(
                    (k.value for k in node.keywords if k.arg == "code"), None)
                for code in _codes_of(arg, constants) or []:
                    used[code].add(None)
    return used


def test_every_code_the_api_answers_with_is_registered_with_its_status() -> None:
    used = codes_in_use()
    assert len(used) > 60
    missing = sorted(set(used) - set(ERROR_CODES))
    assert not missing, f"codes raised but not in payi_server.error_codes: {missing}"
    wrong = {code: sorted(s for s in statuses if s is not None and s not in ERROR_CODES[code][0])
             for code, statuses in used.items()}
    assert not {c: s for c, s in wrong.items() if s}, wrong


def test_every_registered_code_is_still_answered() -> None:
    stale = sorted(set(ERROR_CODES) - set(codes_in_use()))
    assert not stale, f"registered codes no code raises any more: {stale}"


def test_the_docs_show_the_registry() -> None:
    text = (ROOT / "docs" / "error-codes.md").read_text()
    assert markdown_table() in text, "docs/error-codes.md is behind: paste payi_server.error_codes.markdown_table()"
    assert markdown_messages() in text, "docs/error-codes.md is behind: paste error_codes.markdown_messages()"


def test_every_entry_has_statuses_and_a_meaning() -> None:
    for code, (statuses, meaning, messages) in ERROR_CODES.items():
        assert code.islower() and " " not in code, code
        assert statuses and all(400 <= s <= 599 for s in statuses), code
        assert meaning and (meaning[0].isupper() or meaning[0] == "`") and not meaning.endswith("."), code
        assert messages, f"{code} has no message"
        for variant, template in messages.items():
            assert variant == "" or variant.isidentifier(), (code, variant)
            assert template and not template.endswith("."), (code, variant)
            _fields(template)  # a well-formed template


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _functions(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    """(name of the innermost function, node) for every node of the module."""

    def visit(node: ast.AST, where: str) -> Iterator[tuple[str, ast.AST]]:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else where
            yield inner, child
            yield from visit(child, inner)

    yield from visit(tree, "")


def _is_text(node: ast.expr) -> bool:
    """A message written at the call: a string literal (with a space: codes and names have none) or an f-string."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return " " in node.value
    if isinstance(node, ast.BinOp):
        return _is_text(node.left) or _is_text(node.right)
    return False


def _calls_with_codes() -> dict[str, set[str]]:
    """Function name -> the codes it is called with through its ``code`` parameter (as ``codes_in_use`` reads)."""
    trees = [ast.parse(path.read_text()) for path in sorted(SOURCE.rglob("*.py"))]
    constants: dict[str, str] = {}
    for tree in trees:
        constants.update(_constants(tree))
    params: dict[str, int] = {}
    out: dict[str, set[str]] = defaultdict(set)
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [a.arg for a in node.args.args if a.arg != "self"]
                if "code" in names:
                    params[node.name] = names.index("code")
                kwonly = [a.arg for a in node.args.kwonlyargs]
                if "code" in kwonly:
                    params[node.name] = 1_000  # by keyword only; its default counts too
                    out[node.name].update(_codes_of(node.args.kw_defaults[kwonly.index("code")], constants) or [])
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node) in params:
                index = params[_name(node) or ""]
                arg = node.args[index] if len(node.args) > index else next(
                    (k.value for k in node.keywords if k.arg == "code"), None)
                out[_name(node) or ""].update(_codes_of(arg, constants) or [])
    return out


def test_no_raise_site_writes_its_own_message() -> None:
    inline = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or _name(node) in _LOOKUPS:
                continue
            name = _name(node)
            args = list(node.args)
            if name == "__init__" and isinstance(node.func, ast.Attribute) and ast.unparse(node.func.value) == "ApiError":
                args = args[1:]
            elif name == "__init__":
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if name in ("ApiError", "error_body") or name == "__init__":
                if len(args) > 2 and _is_text(args[2]):
                    inline.append(where)
            elif any(isinstance(a, ast.Constant) and a.value in ERROR_CODES for a in args) and any(
                _is_text(a) for a in args
            ):
                inline.append(where)
    assert not inline, f"messages written at raise sites (register them in payi_server.error_codes): {inline}"


def test_every_message_lookup_names_a_registered_template_and_its_fields() -> None:
    by_function = _calls_with_codes()
    all_constants: dict[str, str] = {}
    trees = {path: ast.parse(path.read_text()) for path in sorted(SOURCE.rglob("*.py"))}
    for tree in trees.values():
        all_constants.update(_constants(tree))
    checked, problems = 0, []
    for path, tree in trees.items():
        imported = {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom)
                    and (n.module or "").endswith(("error_codes", "errors")) for a in n.names}
        for function, node in _functions(tree):
            if not (isinstance(node, ast.Call) and _name(node) in _LOOKUPS & imported and node.args) or function == "api_error":
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            first = node.args[0]
            codes = _codes_of(first, all_constants)
            if codes is None and (str(path.relative_to(SOURCE)), function) in _LOCAL_CODES:
                codes = sorted(_LOCAL_CODES[(str(path.relative_to(SOURCE)), function)])
            if codes is None and isinstance(first, ast.Name) and first.id == "code":
                codes = sorted(c for c in by_function.get(function, set()) if c in ERROR_CODES)
            if codes is None and isinstance(first, ast.BinOp) and isinstance(first.left, ast.Constant):
                # check_text's "invalid_" + what: every code it is used for (``codes_in_use``)
                codes = sorted(c for c in codes_in_use() if c.startswith(str(first.left.value)) and c in ERROR_CODES
                               and ERROR_CODES[c][2] is ERROR_CODES["invalid_user_id"][2])
            if not codes:
                problems.append(f"{where}: the code is not known here")
                continue
            variant = node.args[1].value if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) else ""
            if len(node.args) > 1 and not isinstance(node.args[1], ast.Constant):
                problems.append(f"{where}: the variant is not a literal")
            fields = {k.arg for k in node.keywords if k.arg not in _OPTIONS}
            for code in codes:
                checked += 1
                statuses, _, messages = ERROR_CODES[code]
                if variant not in messages:
                    problems.append(f"{where}: {code} has no message {variant!r}")
                    continue
                if fields != _fields(messages[variant]):
                    problems.append(f"{where}: {code}/{variant!r} takes {sorted(_fields(messages[variant]))}")
                if _name(node) == "api_error" and len(statuses) > 1 and not any(k.arg == "status" for k in node.keywords):
                    problems.append(f"{where}: {code} has several statuses: give status=")
    assert checked > 150
    assert not problems, problems
