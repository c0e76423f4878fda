"""ops35: docs/api.md's "A gateway's refusal (402)" names the endpoints that
answer 402 (the schema's), and tells that ``payment_method_declined`` and
``card_retry_wait`` are no endpoint's 402: the one-off saved-card charge
(``saved_method_charge``) that stores them is a service no view calls (every
payments view module the URL conf routes to, and any module outside the
services: pay38)."""

import ast
import importlib
import re
from pathlib import Path

import pytest
from django.urls import URLResolver, get_resolver
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def _section() -> str:
    text = (ROOT / "docs" / "api.md").read_text()
    return text.split("## A gateway's refusal (402)", 1)[1].split("\n## ", 1)[0]


def _documented() -> set[tuple[str, str]]:
    """(method, path) of each endpoint the section lists (all POSTs);
    ``.../x/`` is the previous path's parent with ``x``."""
    bullets = _section().split("The recurring charge endpoints", 1)[0]
    found, previous = set(), ""
    for path in re.findall(r"`(?:POST )?(/api/v1/[^`]*|\.\.\./[^`]*)`", bullets):
        if path.startswith("..."):
            path = previous.rsplit("/", 2)[0] + path[3:]
        found.add(("post", re.sub(r"<[^>]+>", "{}", path)))
        previous = path
    return found


def test_the_402_section_names_the_endpoints_the_schema_gives_402():
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    answering = {
        (method, re.sub(r"\{[^}]+\}", "{}", path))
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if "402" in operation.get("responses", {})
    }

    assert answering
    assert _documented() == answering


def _payments_view_modules() -> set[str]:
    """Every payments module a URL of the project routes to (API views, the
    admin's own views), found by walking the URL conf (pay38: not named by
    hand, so a new view module is checked too)."""
    found: set[str] = set()

    def walk(patterns: list) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
                continue
            view = pattern.callback
            owner = getattr(view, "cls", None) or getattr(view, "view_class", None)
            module = (owner or view).__module__
            if module.split(".")[0] == "payments":
                found.add(module)

    walk(get_resolver().url_patterns)
    return found


def _names_the_charge(path: Path) -> bool:
    """Whether ``path``'s code (not its comments) names the charge: a call,
    an attribute or an import of it."""
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Name | ast.alias)
            and (getattr(node, "id", None) or getattr(node, "name", None))
            == "saved_method_charge"
        ):
            return True
        if isinstance(node, ast.Attribute) and node.attr == "saved_method_charge":
            return True
    return False


def _callers() -> list[str]:
    """The payments modules outside its services that name the charge: a
    view, admin, command or task calling it, or a helper they call."""
    services = ROOT / "payments" / "services"
    return [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "payments").rglob("*.py"))
        if services not in path.parents and _names_the_charge(path)
    ]


def test_no_view_makes_the_charge_whose_codes_are_no_402():
    modules = _payments_view_modules()
    assert {"payments.api", "payments.api_recurring"} <= modules
    for name in modules:
        path = Path(importlib.import_module(name).__file__)
        assert not _names_the_charge(path), name
    assert _callers() == []
    section = " ".join(_section().split())
    told = "`payment_method_declined` and `card_retry_wait` (type `card_error`) "
    assert told + "are no endpoint's 402" in section
