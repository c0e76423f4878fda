"""The Idempotency-Key mechanism over the full HTTP stack, against a view
that writes a row (a Group) per successful POST."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.api.errors import ApiError
from integrations.models import IdempotencyRecord
from tests.integrations.api import views
from tests.integrations.api.conftest import TEST_URLS
from tests.integrations.api.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls(TEST_URLS)]

GROUPS = "/api/v1/test/groups/"


def _post(client: APIClient, body: object, key: str | None = "key-1", path=GROUPS):
    extra = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(path, body, format="json", **extra)


def test_first_response_is_stored_and_replayed(key_client):
    client = key_client()
    first = _post(client, {"name": "alpha"})
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first

    again = _post(client, {"name": "alpha"})
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert Group.objects.count() == 1

    record = IdempotencyRecord.objects.get()
    assert record.owner == f"api-key:{client.api_key.pk}"
    assert record.state == IdempotencyRecord.State.COMPLETED
    assert record.response_status == 201


def test_same_body_in_another_key_order_is_the_same_request(key_client):
    client = key_client()
    body = '{"name": "alpha", "extra": {"a": 1, "b": 2}}'
    reordered = '{"extra": {"b": 2, "a": 1}, "name": "alpha"}'
    first = client.post(
        GROUPS, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    again = client.post(
        GROUPS, reordered, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"


def test_same_key_different_body_is_422(key_client):
    client = key_client()
    assert _post(client, {"name": "alpha"}).status_code == 201
    response = _post(client, {"name": "beta"})
    error = assert_error(response, 422, "idempotency_key_reused", "Idempotency-Key")
    assert error["type"] == "invalid_request_error"
    assert Group.objects.count() == 1


def test_same_key_on_another_endpoint_is_422(key_client):
    client = key_client()
    assert _post(client, {"name": "alpha"}).status_code == 201
    response = _post(client, {"name": "alpha"}, path="/api/v1/test/optional/")
    assert_error(response, 422, "idempotency_key_reused", "Idempotency-Key")


def test_key_in_flight_is_409(key_client):
    client = key_client()
    seen = {}

    def concurrent_retry(request):
        # The first request is inside its handler: its record is in flight.
        seen["response"] = _post(client, {"name": "alpha"})

    views.hooks["during"] = concurrent_retry
    first = _post(client, {"name": "alpha"})
    assert first.status_code == 201
    assert_error(seen["response"], 409, "idempotency_key_in_use", "Idempotency-Key")
    assert seen["response"].json()["error"]["type"] == "conflict_error"
    assert Group.objects.count() == 1


def test_missing_key_is_400_where_required(key_client):
    response = _post(key_client(), {"name": "alpha"}, key=None)
    assert_error(response, 400, "idempotency_key_required", "Idempotency-Key")
    assert not Group.objects.exists()


def test_optional_key_runs_without_header(key_client):
    client = key_client()
    path = "/api/v1/test/optional/"
    assert _post(client, {"name": "a"}, key=None, path=path).status_code == 201
    assert _post(client, {"name": "b"}, key=None, path=path).status_code == 201
    assert Group.objects.count() == 2
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("key", ["x" * 256, " ", "caf\u00e9"])
def test_invalid_key_is_400(key_client, key):
    client = key_client()
    response = client.post(
        GROUPS,
        {"name": "alpha"},
        format="json",
        headers={"Idempotency-Key": key},
    )
    assert_error(response, 400, "idempotency_key_invalid", "Idempotency-Key")
    assert not Group.objects.exists()


def test_key_of_255_characters_is_accepted(key_client):
    assert _post(key_client(), {"name": "alpha"}, key="x" * 255).status_code == 201


def test_two_owners_may_use_the_same_key(key_client):
    first, second = key_client(), key_client()
    assert _post(first, {"name": "alpha"}).status_code == 201
    response = _post(second, {"name": "beta"})
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Group.objects.count() == 2


def test_staff_user_owner(api_client, django_user_model, key_client):
    staff = django_user_model.objects.create_user("ops", is_staff=True)
    api_client.force_login(staff)
    path = "/api/v1/test/staff-groups/"
    assert _post(api_client, {"name": "alpha"}, path=path).status_code == 201
    assert _post(api_client, {"name": "alpha"}, path=path)["Idempotent-Replayed"]
    assert IdempotencyRecord.objects.get().owner == f"user:{staff.pk}"


def test_validation_error_is_stored_and_replayed(key_client):
    client = key_client()
    first = _post(client, {"name": ""})
    assert_error(first, 400, "blank", "name")
    again = _post(client, {"name": ""})
    assert_error(again, 400, "blank", "name")
    assert again["Idempotent-Replayed"] == "true"
    assert IdempotencyRecord.objects.get().response_status == 400


def test_malformed_json_with_key_stores_nothing(key_client):
    client = key_client()
    response = client.post(
        GROUPS, "{", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert_error(response, 400, "parse_error")
    assert not IdempotencyRecord.objects.exists()


def test_unauthenticated_request_stores_nothing(api_client):
    response = _post(api_client, {"name": "alpha"})
    assert_error(response, 401, "not_authenticated")
    assert not IdempotencyRecord.objects.exists()


def test_exception_releases_the_key_for_a_retry(key_client):
    client = key_client()
    client.raise_request_exception = False

    def fail_once(request):
        views.hooks.pop("after")
        raise RuntimeError("provider exploded")

    # Raised after the row is written, as a bug after a side effect would be.
    views.hooks["after"] = fail_once
    response = _post(client, {"name": "alpha"})
    assert_error(response, 500, "internal_error")
    assert not IdempotencyRecord.objects.exists()
    assert not Group.objects.exists()

    retry = _post(client, {"name": "alpha"})
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry
    assert Group.objects.count() == 1


def test_5xx_api_error_releases_the_key(key_client):
    client = key_client()

    def unavailable(request):
        views.hooks.pop("during")
        raise ApiError("Provider down.", code="provider_unavailable", status_code=503)

    views.hooks["during"] = unavailable
    assert_error(_post(client, {"name": "alpha"}), 503, "provider_unavailable")
    assert not IdempotencyRecord.objects.exists()
    assert _post(client, {"name": "alpha"}).status_code == 201


def test_expired_record_no_longer_counts(key_client, settings):
    client = key_client()
    assert _post(client, {"name": "alpha"}).status_code == 201
    IdempotencyRecord.objects.update(
        created_at=timezone.now()
        - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS, minutes=1)
    )
    response = _post(client, {"name": "beta"})
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert IdempotencyRecord.objects.get().response_body["name"] == "beta"


def test_abandoned_in_flight_record_is_taken_over(key_client, settings):
    client = key_client()
    assert _post(client, {"name": "alpha"}).status_code == 201
    # As if the worker had died inside the handler long ago.
    IdempotencyRecord.objects.update(
        state=IdempotencyRecord.State.IN_FLIGHT,
        created_at=timezone.now()
        - timedelta(seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS + 1),
    )
    response = _post(client, {"name": "alpha2"})
    assert response.status_code == 201
    # A recent in-flight record still blocks.
    IdempotencyRecord.objects.update(
        state=IdempotencyRecord.State.IN_FLIGHT, created_at=timezone.now()
    )
    assert_error(
        _post(client, {"name": "alpha2"}),
        409,
        "idempotency_key_in_use",
        "Idempotency-Key",
    )
