"""ops35: docs/api.md's "A gateway's refusal (402)" names the endpoints that
answer 402 (the schema's), and tells that ``payment_method_declined`` and
``card_retry_wait`` are no endpoint's 402: the one-off saved-card charge
(``saved_method_charge``) that stores them is a service no view calls."""

import re
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from payments import api, api_recurring

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


def test_no_view_makes_the_charge_whose_codes_are_no_402():
    for module in (api, api_recurring):
        assert "saved_method_charge" not in Path(module.__file__).read_text()
    section = " ".join(_section().split())
    told = "`payment_method_declined` and `card_retry_wait` (type `card_error`) "
    assert told + "are no endpoint's 402" in section
