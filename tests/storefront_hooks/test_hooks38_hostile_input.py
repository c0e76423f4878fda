"""Outside test (item 1): hostile input to the endpoints API and the admin.
Every refusal is a 4xx in the API's error shape (or a form error in the
admin), never a 500, and nothing is stored."""

import logging
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from storefront_hooks.models import WebhookEndpoint
from tests.factories import ApiKeyFactory
from tests.platform.rows_once_suite43a import (
    client_on,
    rows_for_the_module,
    session_of,
)

pytestmark = pytest.mark.django_db
BASE = "/api/v1/webhook-endpoints/"
GOOD = "https://shop.example/hooks"
CONTROLS = ["\x00", "a\x00b", "\x01", "\x1b[31m", "\x7f", "\x85", "\u2028"]
HUGE = [2**63, 10**40, -(2**63) - 1, 1e308]
BAD_URLS = [
    "https://shop.example/" + "a" * 10_000,
    "ftp://shop.example/hooks",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "gopher://shop.example:70/_x",
    "data:text/plain,hi",
    "//shop.example/hooks",
    "shop.example/hooks",
    "https://",
    "https://shop.example:99999/hooks",
    "https://shop.example:-1/hooks",
    "https://[::1/hooks",
    "https://user:hunter2@shop.example/hooks",
    "https://user@shop.example/hooks",
    "https://:hunter2@shop.example/hooks",
    "https://xn--/hooks",
    "https://\u2488.example/hooks",  # IDNA maps it to "1.": an empty label
    "https://a\u200d.example/hooks",  # a joiner IDNA refuses here
    "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11\uff12/",  # fullwidth 127.0.0.12
    "https://" + "\u00e4" * 70 + ".example/hooks",  # label over 63 once encoded
]


def _logins() -> dict[str, str]:
    user = get_user_model().objects.create_superuser("root", "r@example.com", "pw")
    key = ApiKeyFactory(scopes=["webhooks:manage"])
    return {"staff": session_of(user), "api": key.raw_key}


@pytest.fixture(scope="module")
def logins(django_db_setup, django_db_blocker) -> Iterator[dict[str, str]]:
    # Made once for the module's ~180 tests; each test's writes roll back.
    with rows_for_the_module(django_db_blocker, _logins) as made:
        yield made


@pytest.fixture
def api(db, logins) -> APIClient:
    """The conftest's client (a key that manages webhook endpoints), its key
    made once for the module."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {logins['api']}")
    return client


def _error(answer, status: int = 400) -> dict:
    assert answer.status_code == status, answer.content[:300]
    error = answer.json()["error"]
    assert set(error) >= {"type", "code", "message", "param"}
    return error


def _create(api, **fields):
    body = {"url": GOOD, "event_types": ["payment.*"], **fields}
    return api.post(BASE, body, format="json")


def _hostile_pairs() -> list[tuple[str, object]]:
    """Each field with each hostile value, but not what free text may hold:
    a line separator is a character like any, and DRF takes a number for
    text as its text."""
    values = CONTROLS + HUGE + [None, [], {}, True]
    return [
        (field, value)
        for field in ("url", "description", "mode")
        for value in values
        if field != "description"
        or (value not in ("\u2028", "\x85") and not isinstance(value, float))
    ]


@pytest.mark.parametrize(("field", "value"), _hostile_pairs())
def test_hostile_values_in_each_field_are_a_400(api, field, value) -> None:
    error = _error(_create(api, **{field: value}))
    assert error["param"] is not None
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "event_types",
    [
        ["payment.*\x00"],
        ["\x1b"],
        [2**63],
        [None],
        [{}],
        "payment.*",
        [],
        ["payment.nope"],
        ["nope.*"],
        ["*.*"],
        ["payment.**"],
        ["integrations.breaker_opened"],
        ["pickup.cancel_not_applied"],
        ["payment.*"] * 5_000 + ["x"],
        ["p" * 10_000],
    ],
)
def test_bad_event_types_are_a_400(api, event_types) -> None:
    error = _error(_create(api, event_types=event_types))
    assert error["param"] is not None
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_urls_are_a_400_on_url(api, url) -> None:
    error = _error(_create(api, url=url))
    assert (error["code"], error["param"]) == ("invalid_endpoint", "url")
    assert "hunter2" not in error["message"]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_urls_are_a_400_on_patch(api, url) -> None:
    created = _create(api)
    assert created.status_code == 201
    answer = api.patch(f"{BASE}{created.json()['id']}/", {"url": url}, format="json")
    assert _error(answer)["param"] == "url"
    assert WebhookEndpoint.objects.get().url == GOOD


def test_an_idn_host_that_idna_encodes_is_accepted(api) -> None:
    answer = _create(api, url="https://bücher.example/hooks")
    assert answer.status_code == 201
    assert answer.json()["url"] == "https://bücher.example/hooks"


@pytest.mark.parametrize("suffix", ["", "rotate-secret/", "test/"])
@pytest.mark.parametrize(
    "public_id",
    ["%00", "we_%00", "we_%1b", "%C2%85", "9" * 40, "we_" + "a" * 10_000, "..%2F"],
)
def test_hostile_ids_in_the_path_are_a_4xx(api, public_id, suffix) -> None:
    _create(api)
    path = f"{BASE}{public_id}/{suffix}"
    for method in ("get", "patch", "delete", "post") if not suffix else ("post",):
        answer = getattr(api, method)(path, {}, format="json")
        assert 400 <= answer.status_code < 500, (method, answer.status_code)
        if answer.status_code != 405:
            _error(answer, answer.status_code)
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "\x00"},
        {"limit": str(2**70)},
        {"limit": "-1"},
        {"limit": "0"},
        {"limit": "1e9"},
        {"cursor": "\x00"},
        {"cursor": "x" * 10_000},
        {"cursor": "eyJrIjpbMSwyXX0="},
        {"cursor": "%%%"},
        {"ordering": "secrets_encrypted"},
        {"\x00": "1"},
    ],
)
def test_hostile_list_queries_are_a_4xx_or_ignored(api, query) -> None:
    _create(api)
    answer = api.get(BASE, query)
    assert answer.status_code in (200, 400), answer.content[:300]
    if answer.status_code == 400:
        _error(answer)
    else:
        assert "secret" not in answer.content.decode()


@pytest.fixture
def staff(db, logins):
    # The admin's refusals are read from the form a POST answers with.
    return client_on(logins["staff"], post_context=True)


ADD = "/admin/storefront_hooks/webhookendpoint/add/"


def _form(**fields) -> dict:
    return {"url": GOOD, "description": "", "event_types": "payment.*", **fields}


# The admin's URL field takes "shop.example/hooks" as https://shop.example/hooks.
ADMIN_BAD_URLS = [u for u in BAD_URLS if not u.startswith(("//", "shop."))]


@pytest.mark.parametrize("url", [*ADMIN_BAD_URLS, "https://shop\x00.example/", "\x00"])
def test_admin_bad_urls_are_a_form_error(staff, url) -> None:
    answer = staff.post(ADD, {**_form(url=url), "mode": "test"})
    assert answer.status_code in (200, 400)
    assert not WebhookEndpoint.objects.exists()
    if answer.status_code == 200:
        assert answer.context["adminform"].form.errors


@pytest.mark.parametrize(
    "fields",
    [
        {"event_types": "payment.*,\x00"},
        {"event_types": "payment.nope"},
        {"event_types": ", , ,"},
        {"event_types": "integrations.breaker_opened"},
        {"description": "\x00"},
        {"description": "d" * 10_000},
        {"mode": "\x00"},
        {"mode": "LIVE"},
    ],
)
def test_admin_other_bad_fields_are_a_form_error(staff, fields) -> None:
    answer = staff.post(ADD, {"mode": "test", **_form(**fields)})
    assert answer.status_code == 200
    assert answer.context["adminform"].form.errors
    assert not WebhookEndpoint.objects.exists()


def test_admin_userinfo_is_never_echoed_or_logged(staff, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    url = "https://user:hunter2@shop.example/hooks"
    answer = staff.post(ADD, {**_form(url=url), "mode": "test"})
    assert answer.status_code == 200
    assert answer.context["adminform"].form.errors["url"]
    assert "hunter2" not in answer.content.decode()
    assert "hunter2" not in caplog.text
    # What staff typed comes back without it, to be corrected.
    assert "https://***@shop.example/hooks" in answer.content.decode()


def test_api_userinfo_is_never_echoed_or_logged(api, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    answer = _create(api, url="https://user:hunter2@shop.example/hooks")
    assert "hunter2" not in answer.content.decode()
    assert "hunter2" not in caplog.text


@pytest.mark.parametrize(
    "path",
    [
        "/admin/storefront_hooks/webhookendpoint/99999999999999999999/change/",
        "/admin/storefront_hooks/webhookendpoint/abc/change/",
        "/admin/storefront_hooks/webhookendpoint/-1/change/",
        "/admin/storefront_hooks/webhookendpoint/?q=%00",
        "/admin/storefront_hooks/webhookendpoint/?q=" + "x" * 10_000,
        "/admin/storefront_hooks/webhookendpoint/?enabled__exact=maybe",
        "/admin/storefront_hooks/webhookendpoint/?mode__exact=%1b",
        "/admin/storefront_hooks/webhookendpoint/?secrets_encrypted__startswith=g",
        "/admin/storefront_hooks/webhookendpoint/?id__gt=99999999999999999999",
        "/admin/storefront_hooks/webhookdelivery/?endpoint__id__exact=9" * 1,
        "/admin/storefront_hooks/webhookdelivery/?endpoint__id__exact="
        "99999999999999999999",
        "/admin/storefront_hooks/webhookdelivery/?created_at__year=99999",
        "/admin/storefront_hooks/webhookdelivery/?created_at__year=2024"
        "&created_at__month=13",
        "/admin/storefront_hooks/webhookdelivery/?created_at__year=2024"
        "&created_at__month=2&created_at__day=31",
        "/admin/storefront_hooks/webhookdelivery/?event_type=%00",
        "/admin/storefront_hooks/webhookdelivery/?q=we_%C2%85",
        "/admin/storefront_hooks/webhookdelivery/?status__exact=" + "s" * 5000,
    ],
)
def test_admin_hostile_urls_are_never_a_500(staff, path) -> None:
    staff.post(ADD, {**_form(), "mode": "test"})
    answer = staff.get(path)
    assert answer.status_code < 500


@pytest.mark.parametrize("pk", ["99999999999999999999", "0"])
@pytest.mark.parametrize("view", ["send-test", "rotate-secret"])
def test_admin_buttons_on_hostile_ids_are_a_404(staff, pk, view) -> None:
    answer = staff.post(f"/admin/storefront_hooks/webhookendpoint/{pk}/{view}/")
    assert answer.status_code == 404
