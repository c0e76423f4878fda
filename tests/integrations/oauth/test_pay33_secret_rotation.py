"""pay33: the OAuth token cache's key names the client secret too (a keyed
digest of it, never the secret): staff who replace only an account's secret
(it leaked) get a token fetched with the new one at the next call, not the
old secret's token until it expires. The same secret keeps the cached one."""

import base64
import logging

import pytest
from django.core.cache import cache
from django.test import override_settings

from integrations.testing.faultserver import respond
from tests.integrations.oauth.conftest import CLIENT_ID, SECRET, TOKEN_PATH, token_body
from tests.integrations.oauth.test_bearer_adapter import AcmeAdapter, bearers
from tests.integrations.oauth.test_tokens import tokens_for

pytestmark = pytest.mark.django_db

ROTATED = "client-secret-switchyard-0002-rotated"


@pytest.fixture
def adapter(account, server, monkeypatch) -> AcmeAdapter:
    monkeypatch.setattr(AcmeAdapter, "base_urls", {"test": server.url})
    server.route(
        "POST",
        TOKEN_PATH,
        respond(200, json=token_body("old-secret-token")),
        respond(200, json=token_body("new-secret-token")),
    )
    return AcmeAdapter(account)


def basic(secret: str) -> str:
    return "Basic " + base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode()


def test_a_rotated_secret_fetches_a_new_token_at_the_next_call(
    adapter, account, server
):
    adapter.thing()
    account.set_credentials({"client_id": CLIENT_ID, "client_secret": ROTATED})
    account.save()

    AcmeAdapter(account).thing()

    fetches = server.requests_for("POST", TOKEN_PATH)
    assert [f.header("Authorization") for f in fetches] == [
        basic(SECRET),
        basic(ROTATED),
    ]
    assert bearers(server) == ["Bearer old-secret-token", "Bearer new-secret-token"]


def test_the_same_secret_keeps_the_cached_token(adapter, account, server):
    adapter.thing()
    account.set_credentials({"client_id": CLIENT_ID, "client_secret": SECRET})
    account.save()

    AcmeAdapter(account).thing()

    assert len(server.requests_for("POST", TOKEN_PATH)) == 1
    assert bearers(server) == ["Bearer old-secret-token"] * 2


def test_the_secret_is_in_no_key_nor_log(account, server, caplog):
    tokens = tokens_for(account, server)
    with caplog.at_level(logging.DEBUG):
        tokens.get()

    for key in (tokens.cache_key, tokens.cache_key + ":lock"):
        assert SECRET not in key
    assert SECRET not in tokens.key_material()
    assert cache.get(tokens.cache_key)["access_token"] == "tok-1"
    assert SECRET not in caplog.text


def test_the_secrets_digest_is_keyed(account, server):
    # A digest anyone could compute from a guessed secret would let a key
    # listing confirm the guess: it depends on the deploy's SECRET_KEY.
    material = tokens_for(account, server).key_material()
    with override_settings(SECRET_KEY="another-deploy-" + "k" * 50):
        assert tokens_for(account, server).key_material() != material
