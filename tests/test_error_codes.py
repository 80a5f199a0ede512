"""The error-code registry (``payi_server.error_codes``) is every code the API answers with, no more and no less,
with the statuses it comes with; ``docs/error-codes.md`` shows exactly that table.

The codes in use are read from the source: every ``ApiError(status, code, ...)``, ``error_body(...)``,
``not_found(code, ...)`` / ``bad_request(code, ...)``; codes handed to a function through its ``code`` parameter
(``parse_id(value, "application_not_found", ...)``, the limit checks); module constants used as codes; the
framework's own codes (``_HTTP_CODES``) and the per-route validation codes (``tag_validation_codes``).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from payi_server.error_codes import ERROR_CODES, markdown_table

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "payi_server"
_RAISERS = {"ApiError": 0, "error_body": 0, "__init__": 1}  # name -> index of the status argument
_HELPERS = {"not_found": 404, "bad_request": 400}


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


def test_every_entry_has_statuses_and_a_meaning() -> None:
    for code, (statuses, meaning) in ERROR_CODES.items():
        assert code.islower() and " " not in code, code
        assert statuses and all(400 <= s <= 599 for s in statuses), code
        assert meaning and (meaning[0].isupper() or meaning[0] == "`") and not meaning.endswith("."), code
