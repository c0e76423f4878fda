"""pay38: the OAuth token cache through a real adapter (PayPal, its token
endpoint a ``responses`` fixture). Staff replacing only the client secret in
the admin get a token fetched with the new secret at the next call; the
encryption key's rotation (``rotate_credentials``) changes no secret, so the
cached token is kept; what the cache stores never holds the secret."""

import base64
import io
import json
import pickle
from pathlib import Path

import pytest
import responses
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from integrations import crypto
from integrations.models import ProviderAccount
from payments.providers.paypal import PayPalAdapter
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "paypal"
BASE = "https://api-m.sandbox.paypal.com"
TOKEN_URL = f"{BASE}/v1/oauth2/token"
ORDER = "5O190127TN364715T"
ORDER_URL = f"{BASE}/v2/checkout/orders/{ORDER}"
CLIENT_ID = "AbCdEf-pay38-client-id"
SECRET = "EFgh-pay38-client-secret-0001"
ROTATED = "EFgh-pay38-client-secret-0002"
WEBHOOK_ID = "1JE4291016473214C"
FAST = {
    "max_attempts": 2,
    "backoff_base_seconds": 0.001,
    "backoff_cap_seconds": 0.001,
    "breaker_consecutive_failures": 50,
    "webhook_id": WEBHOOK_ID,
}


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def token(value: str) -> dict:
    return {**load("oauth_token.json"), "access_token": value}


@pytest.fixture
def account() -> ProviderAccount:
    return ProviderAccountFactory(
        provider="paypal",
        slug="paypal-pay38",
        settings=dict(FAST),
        credentials={"client_id": CLIENT_ID, "client_secret": SECRET},
    )


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        # Each fetch gets the next token: which one a call carries tells
        # whether it was fetched again.
        rsps.post(TOKEN_URL, json=token("A21-token-old-secret"))
        rsps.post(TOKEN_URL, json=token("A21-token-new-secret"))
        rsps.get(ORDER_URL, json=load("order_authorized.json"))
        yield rsps


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff38", "s@example.com", "p")
    client.force_login(user)
    return client


def look_up(account: ProviderAccount) -> None:
    # A fresh row and adapter, as the next request or task builds them.
    PayPalAdapter(ProviderAccount.objects.get(pk=account.pk)).retrieve_by_reference(
        ORDER
    )


def basic(secret: str) -> str:
    return "Basic " + base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode()


def token_auths(mocked) -> list[str]:
    return [
        c.request.headers["Authorization"]
        for c in mocked.calls
        if c.request.url == TOKEN_URL
    ]


def bearers(mocked) -> list[str]:
    return [
        c.request.headers["Authorization"]
        for c in mocked.calls
        if c.request.url.startswith(ORDER_URL)
    ]


def secret_change(staff_client, account: ProviderAccount, secret: str) -> None:
    """The admin's change form with only a new client secret (the id left
    blank: kept, as a write-only field is)."""
    url = reverse("admin:integrations_provideraccount_change", args=[account.pk])
    response = staff_client.post(
        url,
        {
            "kind": account.kind,
            "provider": "paypal",
            "slug": account.slug,
            "display_name": account.display_name,
            "priority": str(account.priority),
            "enabled": "on",
            "mode": account.mode,
            "credential__client_id": "",
            "credential__client_secret": secret,
            "setting__webhook_id": WEBHOOK_ID,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    kept = {"client_id": CLIENT_ID, "client_secret": secret}
    assert account.get_credentials() == kept


def test_a_secret_replaced_in_the_admin_fetches_a_new_token_at_once(
    account, mocked, staff_client
):
    look_up(account)
    look_up(account)
    secret_change(staff_client, account, ROTATED)

    look_up(account)

    assert token_auths(mocked) == [basic(SECRET), basic(ROTATED)]
    assert bearers(mocked) == [
        "Bearer A21-token-old-secret",
        "Bearer A21-token-old-secret",
        "Bearer A21-token-new-secret",
    ]


def test_a_new_encryption_key_keeps_the_token(account, mocked):
    look_up(account)
    keys = [crypto.generate_key(), *settings.CREDENTIALS_ENCRYPTION_KEYS]
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=keys):
        call_command("rotate_credentials", stdout=io.StringIO())
        look_up(account)

    assert token_auths(mocked) == [basic(SECRET)]
    assert bearers(mocked) == ["Bearer A21-token-old-secret"] * 2


def test_the_stored_entry_and_its_key_never_hold_the_secret(account, mocked):
    look_up(account)
    tokens = PayPalAdapter(account).oauth_tokens()

    entry = cache.get(tokens.cache_key)
    assert entry["access_token"] == "A21-token-old-secret"
    # The bytes the cache holds, as another process reads them.
    raw = cache._cache.get_client(tokens.cache_key).get(
        cache.make_and_validate_key(tokens.cache_key)
    )
    for stored in (raw, pickle.dumps(entry), tokens.cache_key.encode()):
        for secret in (SECRET, CLIENT_ID):
            assert secret.encode() not in stored
    assert SECRET not in tokens.key_material()
