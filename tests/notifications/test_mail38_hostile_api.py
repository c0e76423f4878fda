"""Issue 17's rule 2 for the email API: NUL and other control characters in
every path and query parameter and every string field of the email and
bulk-send endpoints, and numbers far beyond 64 bits, are a 4xx in the API's
error shape, with nothing stored; never a 500."""

import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from rest_framework.test import APIClient

from notifications.models import BulkSend, EmailMessage
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.platform.rows_once_suite43a import rows_for_the_module

pytestmark = pytest.mark.django_db

EMAILS = "/api/v1/notifications/emails/"
BULK = "/api/v1/notifications/bulk-sends/"
CONTROLS = ["\x00", "a\x00b", "\x1b[31m", "\x7f", "\x85", "\x08", "\ud800"]
HUGE = [2**63, -(2**63) - 1, 10**40, 1e400]


def _account_and_key() -> str:
    ProviderAccountFactory(kind="email", slug="mail-primary")
    return ApiKeyFactory(scopes=["email:send", "email:read"]).raw_key


@pytest.fixture(scope="module")
def api_key(django_db_setup, django_db_blocker) -> Iterator[str]:
    # Made once for the module's ~200 tests; each test's writes roll back.
    with rows_for_the_module(django_db_blocker, _account_and_key) as raw_key:
        yield raw_key


@pytest.fixture
def api(db, api_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


def _error(response) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.content)
    error = response.json()["error"]
    assert set(error) >= {"type", "code", "message", "param"}
    return error


def _post(api: APIClient, url: str, body: dict, key: str = "k-1"):
    # Raw JSON: the client's encoder refuses a lone surrogate or 1e400.
    text = json.dumps(body, ensure_ascii=True).replace("Infinity", "1e400")
    return api.post(
        url, text, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )


SEND = {
    "to": "ada@example.com",
    "template": "order_confirmation",
    "context": {"order_id": "o-1", "amount_display": "€1.00"},
    "order_id": "o-1",
    "category": "transactional",
}


def _bodies():
    for value in CONTROLS + HUGE:
        for field in ("to", "template", "order_id", "category"):
            yield f"{field}={value!r}", {**SEND, field: value}
        for name in ("order_id", "amount_display"):
            context = {**SEND["context"], name: value}
            yield f"context.{name}={value!r}", {**SEND, "context": context}
    for value in CONTROLS:
        context = {**SEND["context"], value: "x"}
        yield f"context key {value!r}", {**SEND, "context": context}


BODIES = list(_bodies())


@pytest.mark.parametrize(("label", "body"), BODIES, ids=[b[0] for b in BODIES])
def test_send_refuses_hostile_fields(api, label, body) -> None:
    response = _post(api, EMAILS, body)
    assert response.status_code != 201, f"{label} was accepted"
    _error(response)
    assert EmailMessage.objects.count() == 0


def _bulk_bodies():
    base = {
        "template": "newsletter",
        "context": {"body": "News.", "headline": "Hi"},
        "name": "n",
        "recipients": [{"email": "ada@example.com", "context": {}}],
    }
    for value in CONTROLS + HUGE:
        for field in ("template", "name", "category"):
            yield f"{field}={value!r}", {**base, field: value}
        yield (
            f"recipient email={value!r}",
            {
                **base,
                "recipients": [{"email": value, "context": {}}],
            },
        )
        yield (
            f"recipient context={value!r}",
            {
                **base,
                "recipients": [
                    {"email": "a@example.com", "context": {"headline": value}}
                ],
            },
        )


BULK_BODIES = list(_bulk_bodies())


@pytest.mark.parametrize(
    ("label", "body"), BULK_BODIES, ids=[b[0] for b in BULK_BODIES]
)
def test_bulk_refuses_hostile_fields(api, label, body) -> None:
    response = _post(api, BULK, body)
    _error(response)
    assert BulkSend.objects.count() == 0


PATHS = [
    EMAILS + "{v}/",
    BULK + "{v}/",
    BULK + "{v}/cancel/",
]


@pytest.mark.parametrize("value", [*CONTROLS[:-1], "9" * 40, "-1", "eml_" + "x" * 500])
@pytest.mark.parametrize("template", PATHS)
def test_path_parameters_are_never_a_500(api, template, value) -> None:
    url = template.format(v=quote(value, safe=""))
    method = api.post if url.endswith("cancel/") else api.get
    response = method(url, HTTP_IDEMPOTENCY_KEY="k-2")
    _error(response)


@pytest.mark.parametrize("value", [*CONTROLS[:-1], "9" * 40, "-1"])
@pytest.mark.parametrize(
    ("url", "name"),
    [
        (EMAILS, "order_id"),
        (EMAILS, "status"),
        (EMAILS, "cursor"),
        (EMAILS, "limit"),
        (BULK, "status"),
        (BULK, "cursor"),
        (BULK, "limit"),
    ],
)
def test_query_parameters_are_never_a_500(api, url, name, value) -> None:
    response = api.get(f"{url}?{name}={quote(value, safe='')}")
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        _error(response)


@pytest.mark.parametrize("value", CONTROLS[:-1])
def test_an_idempotency_key_with_control_characters_is_refused(api, value) -> None:
    response = _post(api, EMAILS, SEND, key=value)
    assert response.status_code < 500, response.content
