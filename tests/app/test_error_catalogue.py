"""The error catalogue (app/contract/errors.py) is the one list of error codes: every code the
server raises is in it, and the docs' error tables agree with it."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import app
from app.contract import errors
from app.contract.errors import BY_CODE, CATALOGUE, ErrorCode, RetryAfter
from app.errors import APIError

ROOT = Path(__file__).resolve().parents[2]
HTTP_API = (ROOT / "docs" / "http-api.md").read_text(encoding="utf-8")


def _retry(entry: ErrorCode) -> str:
    if not entry.retryable:
        return "no"
    return {
        RetryAfter.ALWAYS: "after `Retry-After`",
        RetryAfter.WHEN_KNOWN: "yes (`Retry-After` when known)",
        RetryAfter.NEVER: "yes",
    }[entry.retry_after]


def _status(entry: ErrorCode) -> str:
    return f"{entry.status // 100}xx" if entry.family else str(entry.status)


def docs_table() -> str:
    """The error table of docs/http-api.md, rendered from the catalogue."""
    rows = [
        "| status | `type` | `code` | retry | when |",
        "|---|---|---|---|---|",
        *(
            f"| {_status(e)} | `{e.type}` | `{e.code}` | {_retry(e)} | {e.description} |"
            for e in CATALOGUE
        ),
    ]
    return "\n".join(rows) + "\n"


def test_the_docs_error_table_is_the_catalogue() -> None:
    table = docs_table()
    assert table in HTTP_API, "docs/http-api.md's error table should read:\n" + table


def test_the_agent_api_table_names_catalogue_codes_with_their_status() -> None:
    section = HTTP_API.split("| cause | status | `code` |", 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| ")]
    assert len(rows) >= 10
    for row in rows:
        status, code = row[2].strip(), re.findall(r"`([a-z_]+)`", row[3])[0]
        assert (code, str(BY_CODE[code].status)) == (code, status)


def _modules() -> list[str]:
    return [
        info.name
        for info in pkgutil.walk_packages(app.__path__, "app.")
        if not info.name.endswith("__main__")
    ]


def _subclasses(cls: type[APIError]) -> list[type[APIError]]:
    direct = cls.__subclasses__()
    return [*direct, *(sub for child in direct for sub in _subclasses(child))]


def test_every_error_class_raises_a_catalogue_code() -> None:
    for name in _modules():
        importlib.import_module(name)
    classes: list[type[APIError]] = [APIError, *_subclasses(APIError)]
    assert len(classes) > 20
    for cls in classes:
        assert cls.error in CATALOGUE, cls
        assert (cls.status, cls.type, cls.default_code) == (
            cls.error.status,
            cls.error.type,
            cls.error.code,
        )


def _written_codes(tree: ast.AST) -> list[int]:
    """Lines of ``code="..."`` arguments and ``default_code = ...`` attributes."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "code":
            if isinstance(node.value, ast.JoinedStr | ast.Constant):
                lines.append(node.value.lineno)
        elif isinstance(node, ast.Assign):
            names = [target.id for target in node.targets if isinstance(target, ast.Name)]
            if "default_code" in names:
                lines.append(node.lineno)
    return lines


def test_no_code_is_written_outside_the_catalogue() -> None:
    """Codes are catalogue entries: no ``code="..."`` argument, no ``default_code`` attribute
    (app/errors.py derives ``default_code`` from the entry, annotated)."""
    found = [
        f"{path}:{line}"
        for path in sorted((ROOT / "app").rglob("*.py"))
        if path != ROOT / "app" / "contract" / "errors.py"
        for line in _written_codes(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert found == []
    assert sorted(_written_codes(ast.parse('E(code="x")\nclass A:\n    default_code = "y"'))) == [
        1,
        3,
    ]


def test_every_entry_is_in_the_catalogue_once() -> None:
    entries = [value for value in vars(errors).values() if isinstance(value, ErrorCode)]
    assert sorted(e.code for e in entries) == sorted(e.code for e in CATALOGUE)
    assert len(BY_CODE) == len(CATALOGUE) - sum(e.family for e in CATALOGUE)
    statuses = [entry.status for entry in CATALOGUE if not entry.family]
    assert statuses == sorted(statuses)


def test_an_aiohttp_error_without_a_code_gets_its_status_code() -> None:
    from aiohttp import web

    from app.errors import from_http_exception

    error = from_http_exception(web.HTTPRequestRangeNotSatisfiable())
    assert (error.status, error.type, error.code) == (416, "invalid_request_error", "http_416")
    error = from_http_exception(web.HTTPVersionNotSupported())
    assert (error.status, error.type, error.code) == (505, "server_error", "http_505")


def test_the_openapi_error_responses_list_the_catalogue_codes_of_their_status() -> None:
    from app.openapi import build_document
    from tests.app.conftest import make_config

    document = build_document(make_config(server={"cors_origins": ["https://a.example"]}))
    listed = 0
    for operations in document["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                for branch in schema.get("anyOf", [schema]):
                    described = branch.get("description", "")
                    if described.startswith("Error `code`s: "):
                        codes = described.removeprefix("Error `code`s: ").split(", ")
                        assert {BY_CODE[code].status for code in codes} == {int(status)}
                        listed += 1
    assert listed > 20
