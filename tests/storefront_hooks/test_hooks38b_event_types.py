"""hooks38b item 1: ``event_types`` names each type once. A repeated one (a
client's loop that appended 100,000 copies) is a 400 naming the field on
create and PATCH, a form error in the admin, and the OpenAPI schema says so
(uniqueItems, maxItems: as many entries as there are distinct patterns)."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from storefront_hooks import catalog, services
from storefront_hooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db
BASE = "/api/v1/webhook-endpoints/"
GOOD = "http://127.0.0.1:9/hooks"
ADD = "/admin/storefront_hooks/webhookendpoint/add/"

REPEATED = [
    ["payment.*", "payment.*"],
    ["payment.captured", "shipment.*", "payment.captured"],
    ["payment.*"] * 100_000,
]


def _error(answer) -> dict:
    assert answer.status_code == 400, answer.content[:300]
    return answer.json()["error"]


@pytest.mark.parametrize("event_types", REPEATED, ids=["two", "apart", "100k"])
def test_a_repeated_event_type_is_a_400_on_create(api, event_types) -> None:
    answer = api.post(BASE, {"url": GOOD, "event_types": event_types}, format="json")
    error = _error(answer)
    assert (error["code"], error["param"]) == ("invalid_endpoint", "event_types")
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("event_types", REPEATED, ids=["two", "apart", "100k"])
def test_a_repeated_event_type_is_a_400_on_patch(api, event_types) -> None:
    endpoint, _ = services.endpoint_create(url=GOOD, event_types=["payment.*"])
    answer = api.patch(
        f"{BASE}{endpoint.public_id}/", {"event_types": event_types}, format="json"
    )
    error = _error(answer)
    assert (error["code"], error["param"]) == ("invalid_endpoint", "event_types")
    endpoint.refresh_from_db()
    assert endpoint.event_types == ["payment.*"]


def test_every_distinct_pattern_at_once_is_taken(api) -> None:
    every = catalog.subscribable_patterns()
    answer = api.post(BASE, {"url": GOOD, "event_types": every}, format="json")
    assert answer.status_code == 201, answer.content[:300]
    assert answer.json()["event_types"] == every


def test_the_service_refuses_a_repeated_type() -> None:
    with pytest.raises(services.EndpointInvalid) as caught:
        services.endpoint_create(url=GOOD, event_types=["email.*", "email.*"])
    assert caught.value.param == "event_types"
    assert "email.*" in caught.value.message


def test_an_endpoint_stored_with_repeats_can_still_be_changed(api) -> None:
    # A row written before this check: a PATCH of another field still works.
    endpoint, _ = services.endpoint_create(url=GOOD, event_types=["payment.*"])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        event_types=["payment.*", "payment.*"]
    )
    answer = api.patch(
        f"{BASE}{endpoint.public_id}/", {"description": "kept"}, format="json"
    )
    assert answer.status_code == 200, answer.content[:300]


@pytest.fixture
def staff() -> Client:
    user = get_user_model().objects.create_superuser("root", "r@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "typed",
    [
        "payment.*, payment.*",
        "email.bounced,email.bounced",
        ",".join(["payment.*"] * 10_000),
    ],
)
def test_the_admin_refuses_a_repeated_type(staff, typed) -> None:
    form = {"url": GOOD, "description": "", "event_types": typed, "mode": "test"}
    answer = staff.post(ADD, form)
    assert answer.status_code == 200
    assert "event_types" in answer.context["adminform"].form.errors
    assert not WebhookEndpoint.objects.exists()


def _request_schemas() -> list[dict]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    return [
        components["EndpointWriteRequest"],
        components["PatchedEndpointWriteRequest"],
    ]


def test_the_schema_declares_each_type_once() -> None:
    for component in _request_schemas():
        field = component["properties"]["event_types"]
        assert field["type"] == "array"
        assert field["uniqueItems"] is True
        assert field["minItems"] == 1
        assert field["maxItems"] == len(catalog.subscribable_patterns())
