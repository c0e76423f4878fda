"""Cursor pagination: every list endpoint pages by a stable key, with
``limit`` bounds and a 400 (never a 500) for a malformed cursor or limit."""

import base64
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from integrations.api.pagination import CursorPagination
from payments.models import SavedPaymentMethod
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.integrations.api.conftest import TEST_URLS

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers/cust-1/payment-methods/"


@pytest.fixture
def api() -> APIClient:
    client = APIClient()
    key = ApiKeyFactory(scopes=["payments:read"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


def _methods(count: int, *, days_ago: int = 1) -> list[str]:
    """``count`` saved methods, three of them created at the same instant (so
    only the id breaks the tie); their ids newest first, the API's order."""
    account = ProviderAccountFactory()
    start = timezone.now() - timedelta(days=days_ago)
    created = []
    for index in range(count):
        at = start + timedelta(seconds=min(index, 3))
        created.append(
            SavedPaymentMethod.objects.create(
                customer_reference="cust-1",
                account=account,
                provider_customer_id="cus_1",
                provider_method_id=f"pm_{index}",
                created_at=at,
            )
        )
    created.sort(key=lambda m: (m.created_at, m.pk), reverse=True)
    return [m.public_id for m in created]


def _page(api: APIClient, **params: object) -> dict:
    response = api.get(URL, params)
    assert response.status_code == 200, response.json()
    return response.json()


def _ids(page: dict) -> list[str]:
    return [row["id"] for row in page["results"]]


def test_paging_forward_visits_every_row_once_newest_first(api):
    expected = _methods(7)
    first = _page(api, limit=3)
    second = _page(api, limit=3, cursor=first["next"])
    third = _page(api, limit=3, cursor=second["next"])
    assert _ids(first) + _ids(second) + _ids(third) == expected
    assert first["previous"] is None
    assert second["previous"] is not None
    assert third["next"] is None
    assert len(_ids(third)) == 1


def test_paging_back_returns_the_same_pages(api):
    _methods(7)
    first = _page(api, limit=3)
    second = _page(api, limit=3, cursor=first["next"])
    third = _page(api, limit=3, cursor=second["next"])
    back_to_second = _page(api, limit=3, cursor=third["previous"])
    assert _ids(back_to_second) == _ids(second)
    back_to_first = _page(api, limit=3, cursor=back_to_second["previous"])
    assert _ids(back_to_first) == _ids(first)
    assert back_to_first["previous"] is None
    assert back_to_first["next"] is not None


def test_rows_written_while_paging_do_not_shift_the_pages(api):
    expected = _methods(6)
    first = _page(api, limit=3)
    _methods(2, days_ago=0)  # newer rows: an offset would shift by two
    second = _page(api, limit=3, cursor=first["next"])
    assert _ids(first) + _ids(second) == expected
    assert second["next"] is None


def test_default_and_largest_limits(api, settings):
    _methods(21)
    assert len(_ids(_page(api))) == 20
    assert len(_ids(_page(api, limit=1))) == 1
    settings.API_MAX_PAGE_SIZE = 21
    whole = _page(api, limit=21)
    assert len(_ids(whole)) == 21 and whole["next"] is None


def _assert_400(response, code: str, param: str) -> None:
    assert response.status_code == 400, response.content
    assert response.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": code,
            "message": response.json()["error"]["message"],
            "param": param,
        }
    }


@pytest.mark.parametrize("limit", ["0", "-1", "101", "abc", "1.5", " 5", "", "1e2"])
def test_a_limit_out_of_bounds_or_malformed_is_a_400(api, limit):
    _methods(2)
    response = api.get(URL, {"limit": limit})
    _assert_400(response, "invalid_limit", "limit")
    assert "1 to 100" in response.json()["error"]["message"]


def _encode(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


NOW = "2025-01-02T03:04:05.000001+00:00"


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64 !",
        "x" * 600,
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _encode("a string"),
        _encode({"k": [NOW], "b": False}),  # one value short
        _encode({"k": [NOW, "1", "2"], "b": False}),
        _encode({"k": [NOW, 1], "b": False}),
        _encode({"k": [NOW, "1"], "b": "no"}),
        _encode({"k": ["yesterday", "1"], "b": False}),
        _encode({"k": ["2025-01-02T03:04:05", "1"], "b": False}),  # naive
        _encode({"k": [NOW, "one"], "b": False}),
        _encode({"k": [NOW, "99999999999999999999999"], "b": False}),
    ],
)
def test_a_malformed_cursor_is_a_400_never_a_500(api, cursor):
    _methods(2)
    _assert_400(api.get(URL, {"cursor": cursor}), "invalid_cursor", "cursor")


def test_a_cursor_past_the_end_is_an_empty_page(api):
    _methods(2)
    cursor = _encode({"k": ["2000-01-01T00:00:00+00:00", "1"], "b": False})
    page = _page(api, cursor=cursor)
    assert page == {"next": None, "previous": None, "results": []}


@pytest.mark.urls(TEST_URLS)
def test_a_view_pages_by_its_own_key(key_client):
    client = key_client("inventory:read")
    ids = [Group.objects.create(name=f"g{i}").pk for i in range(5)]
    first = client.get("/api/v1/test/groups/", {"limit": 2}).json()
    rest = client.get("/api/v1/test/groups/", {"cursor": first["next"]}).json()
    assert [g["id"] for g in first["results"] + rest["results"]] == ids


def test_a_model_without_created_at_needs_cursor_ordering():
    request = APIRequestFactory().get("/")
    with pytest.raises(ImproperlyConfigured, match="cursor_ordering"):
        CursorPagination().paginate_queryset(Group.objects.all(), Request(request))


def test_the_schema_documents_pagination_on_every_list(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"][URL.replace("cust-1", "{customer_reference}")]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 20,
    }
    assert params["cursor"]["in"] == "query"
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    assert page["required"] == ["next", "previous", "results"]
    assert page["properties"]["results"]["type"] == "array"
    # No list endpoint, today's or a later one, answers a bare array.
    for path, operations in schema["paths"].items():
        get = operations.get("get", {})
        for code, response in get.get("responses", {}).items():
            for media in response.get("content", {}).values():
                assert media["schema"].get("type") != "array", (path, code)


@pytest.mark.django_db
def test_a_cursor_holding_a_control_character_is_a_400():
    # Base64 hides the NUL from the input guard; PostgreSQL refuses it.
    key = ApiKeyFactory(scopes=["inventory:read"])
    api = APIClient(raise_request_exception=False)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    raw = json.dumps({"k": ["a\x00b", "1"], "b": False}).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")

    response = api.get("/api/v1/inventory/stock/", {"cursor": cursor})

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_cursor"
