"""API keys, scopes and throttling through HTTP."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.api.services import api_key_revoke
from integrations.models import ApiKey
from tests.integrations.api.conftest import TEST_URLS
from tests.integrations.api.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls(TEST_URLS)]

ME = "/api/v1/me/"
GROUPS = "/api/v1/test/groups/"


def test_valid_key_reaches_endpoint_and_sees_itself(key_client):
    client = key_client("payments:read", "shipping:write")
    response = client.get(ME)
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == client.api_key.name
    assert body["prefix"] == client.api_key.prefix
    assert body["scopes"] == ["payments:read", "shipping:write"]
    # Nothing secret comes back.
    assert client.api_key.key_hash not in response.content.decode()
    assert client.api_key.raw_key not in response.content.decode()


def test_key_is_stored_only_as_hash(make_key):
    api_key = make_key()
    stored = ApiKey.objects.filter(pk=api_key.pk).values()[0]
    assert api_key.raw_key not in {str(v) for v in stored.values()}
    assert api_key.raw_key.startswith(f"sy_{api_key.prefix}_")


def test_x_api_key_header_also_works(api_client, make_key):
    api_key = make_key()
    response = api_client.get(ME, HTTP_X_API_KEY=api_key.raw_key)
    assert response.status_code == 200


def test_missing_key_is_401_with_challenge(api_client):
    response = api_client.get(ME)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer ",
        "Bearer nonsense",
        "Bearer xx_abc_def",
        "Bearer sy_onlytwo",
        "Bearer sy_" + "a" * 300 + "_b",
    ],
)
def test_malformed_key_is_401(api_client, header):
    response = api_client.get(ME, HTTP_AUTHORIZATION=header)
    assert_error(response, 401, "api_key_malformed")


def test_wrong_secret_for_existing_prefix_is_401(api_client, make_key):
    api_key = make_key()
    forged = f"sy_{api_key.prefix}_{'x' * 43}"
    response = api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {forged}")
    error = assert_error(response, 401, "api_key_invalid")
    assert forged not in error["message"]


def test_unknown_prefix_is_401(api_client, db):
    response = api_client.get(ME, HTTP_AUTHORIZATION="Bearer sy_000000000000_abc")
    assert_error(response, 401, "api_key_invalid")


def test_revoked_key_is_401(key_client):
    client = key_client()
    assert client.get(ME).status_code == 200
    assert api_key_revoke(api_key=client.api_key) is True
    assert_error(client.get(ME), 401, "api_key_revoked")
    # Revoking twice changes nothing.
    first = ApiKey.objects.get(pk=client.api_key.pk).revoked_at
    assert api_key_revoke(api_key=client.api_key) is False
    assert ApiKey.objects.get(pk=client.api_key.pk).revoked_at == first


def test_last_used_is_recorded_at_most_once_a_minute(key_client):
    client = key_client()
    client.get(ME)
    api_key = ApiKey.objects.get(pk=client.api_key.pk)
    first = api_key.last_used_at
    assert first is not None
    client.get(ME)
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == first
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=first - timedelta(hours=1))
    client.get(ME)
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at > first - timedelta(seconds=1)
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at <= timezone.now()


def test_scopes_are_checked_per_method(key_client):
    reader = key_client("inventory:read")
    assert reader.get(GROUPS).status_code == 200
    error = assert_error(
        reader.post(GROUPS, {"name": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"),
        403,
        "missing_scope",
    )
    assert "inventory:write" in error["message"]
    assert error["type"] == "permission_error"

    writer = key_client("inventory:write")
    assert_error(writer.get(GROUPS), 403, "missing_scope")
    response = writer.post(
        GROUPS, {"name": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert response.status_code == 201


def test_key_lacking_scope_for_every_method_is_403(key_client):
    client = key_client("email:send")
    # Scopes are checked before anything else about the request.
    assert_error(client.get("/api/v1/test/validate/"), 403, "missing_scope")
    assert_error(
        client.post("/api/v1/test/validate/", {}, format="json"), 403, "missing_scope"
    )


def test_view_without_declared_scopes_is_closed_to_keys(key_client):
    assert_error(key_client().get("/api/v1/test/undeclared/"), 403, "permission_denied")


def test_staff_session_only_where_allowed(api_client, django_user_model):
    staff = django_user_model.objects.create_user("ops", is_staff=True)
    api_client.force_login(staff)
    assert_error(api_client.get(ME), 403, "api_key_required")
    response = api_client.get("/api/v1/test/staff-groups/")
    assert response.status_code == 200


def test_non_staff_session_is_refused(api_client, django_user_model):
    user = django_user_model.objects.create_user("shopper")
    api_client.force_login(user)
    assert_error(api_client.get("/api/v1/test/staff-groups/"), 403, "api_key_required")


def test_throttle_per_key_with_retry_after(key_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "2/min"},
    }
    first, second = key_client(), key_client()
    assert first.get(ME).status_code == 200
    assert first.get(ME).status_code == 200
    response = first.get(ME)
    error = assert_error(response, 429, "throttled")
    assert error["type"] == "rate_limit_error"
    assert 0 < int(response["Retry-After"]) <= 60
    # Another key has its own bucket.
    assert second.get(ME).status_code == 200
