"""The API key admin: the key shown once, never the hash, scopes validated,
revocation."""

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from integrations.models import ApiKey

pytestmark = pytest.mark.django_db

ADD = reverse("admin:integrations_apikey_add")
CHANGELIST = reverse("admin:integrations_apikey_changelist")


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "s@example.com", "pw")
    client.force_login(user)
    return client


def _add(client, **data):
    payload = {"name": "storefront", "scopes": ["payments:write", "email:send"]}
    payload.update(data)
    return client.post(ADD, payload, follow=True)


def test_adding_a_key_shows_it_once(staff_client):
    response = _add(staff_client)
    assert response.status_code == 200
    api_key = ApiKey.objects.get()
    assert api_key.scopes == ["email:send", "payments:write"]
    page = response.content.decode()
    shown = re.findall(r"<code>(sy_[A-Za-z0-9_-]+)</code>", page)
    assert len(shown) == 1
    full_key = shown[0]
    assert full_key.startswith(f"sy_{api_key.prefix}_")
    assert "copy it now" in page

    # The key works...
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {full_key}")
    assert api.get("/api/v1/me/").status_code == 200
    # ...and is never shown again, nor is its hash.
    for url in (
        CHANGELIST,
        reverse("admin:integrations_apikey_change", args=[api_key.pk]),
    ):
        page = staff_client.get(url).content.decode()
        assert full_key not in page
        assert api_key.key_hash not in page
        assert api_key.prefix in page


def test_add_form_does_not_offer_hash_or_prefix(staff_client):
    page = staff_client.get(ADD).content.decode()
    assert 'name="key_hash"' not in page
    assert 'name="prefix"' not in page
    assert 'value="payments:write"' in page
    assert 'value="email:read"' in page and 'value="email:send"' in page


@pytest.mark.parametrize(
    ("scopes", "message"),
    [(["payments:steal"], "Select a valid choice"), ([], "This field is required")],
)
def test_bad_scopes_are_form_errors(staff_client, scopes, message):
    response = _add(staff_client, scopes=scopes)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ApiKey.objects.exists()


def test_changing_scopes_keeps_the_key(staff_client):
    _add(staff_client)
    api_key = ApiKey.objects.get()
    url = reverse("admin:integrations_apikey_change", args=[api_key.pk])
    response = staff_client.post(url, {"name": "renamed", "scopes": ["email:send"]})
    assert response.status_code == 302
    updated = ApiKey.objects.get()
    assert (updated.name, updated.scopes) == ("renamed", ["email:send"])
    assert (updated.prefix, updated.key_hash) == (api_key.prefix, api_key.key_hash)


def test_changelist_columns_and_revoke_action(staff_client):
    _add(staff_client, name="keep")
    _add(staff_client, name="drop")
    drop = ApiKey.objects.get(name="drop")
    page = staff_client.get(CHANGELIST).content.decode()
    for column in ("Prefix", "Scopes", "Created at", "Last used at", "Revoked at"):
        assert column in page
    assert "email:send, payments:write" in page

    response = staff_client.post(
        CHANGELIST, {"action": "revoke", "_selected_action": [drop.pk]}, follow=True
    )
    assert "Revoked 1 API key(s)." in response.content.decode()
    drop.refresh_from_db()
    assert drop.revoked_at is not None
    assert ApiKey.objects.get(name="keep").revoked_at is None
    revoked_page = staff_client.get(CHANGELIST + "?status=revoked").content.decode()
    assert "drop" in revoked_page and ">keep<" not in revoked_page


def test_keys_cannot_be_deleted(staff_client):
    _add(staff_client)
    api_key = ApiKey.objects.get()
    url = reverse("admin:integrations_apikey_delete", args=[api_key.pk])
    assert staff_client.post(url, {"post": "yes"}).status_code == 403
    assert ApiKey.objects.exists()
