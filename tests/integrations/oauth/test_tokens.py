"""TokenCache over real sockets: the token endpoint and the API are a local
fault server; what it received is what is asserted."""

import base64
import json
import logging
import threading
from urllib.parse import parse_qs

import pytest
from django.core.cache import cache
from django.test import override_settings

from integrations.client import client_for
from integrations.errors import ConfigurationError, NotProcessed
from integrations.models import ProviderCall
from integrations.oauth import ClientCredentials, TokenCache
from integrations.testing.faultserver import malformed_json, reset, respond
from tests.integrations.oauth.conftest import (
    API_PATH,
    CLIENT_ID,
    SECRET,
    TOKEN_PATH,
    token_body,
)

pytestmark = pytest.mark.django_db


def tokens_for(account, server, **kwargs) -> TokenCache:
    credentials = ClientCredentials(
        token_url=server.url_for(TOKEN_PATH),
        client_id=kwargs.pop("client_id", CLIENT_ID),
        client_secret=SECRET,
        scope=kwargs.pop("scope", ""),
        send_as=kwargs.pop("send_as", "header"),
    )
    return TokenCache(account, credentials, provider="acme", **kwargs)


def get_thing(account, server):
    """The API call the tokens are for: one GET with a bearer token."""
    client = client_for(account)

    def call(token: str) -> dict:
        response = client.request(
            "GET",
            server.url_for(API_PATH),
            operation="acme_get_thing",
            idempotent=True,
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.json()

    return call


def bearers(server) -> list[str]:
    return [r.header("Authorization") for r in server.requests_for("GET", API_PATH)]


def token_requests(server) -> list:
    return server.requests_for("POST", TOKEN_PATH)


# --- Fetch and reuse ------------------------------------------------------------------


def test_token_is_fetched_once_and_reused(account, server):
    tokens = tokens_for(account, server)
    call = get_thing(account, server)

    assert tokens.with_token(call) == {"id": "42"}
    assert tokens.with_token(call) == {"id": "42"}
    # A new TokenCache (another request, another process) reads the same entry.
    assert tokens_for(account, server).get() == "tok-1"

    (fetch,) = token_requests(server)
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert fetch.header("Authorization") == f"Basic {basic}"
    assert parse_qs(fetch.body.decode()) == {"grant_type": ["client_credentials"]}
    assert bearers(server) == ["Bearer tok-1", "Bearer tok-1"]
    row = ProviderCall.objects.get(operation="acme_oauth_token")
    assert row.outcome == "success"


def test_credentials_and_scope_can_travel_in_the_form(account, server):
    tokens = tokens_for(account, server, send_as="body", scope="read write")

    tokens.get()

    (fetch,) = token_requests(server)
    assert fetch.header("Authorization") is None
    assert parse_qs(fetch.body.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [SECRET],
        "scope": ["read write"],
    }


def test_credentials_can_travel_in_a_json_body(account, server):
    tokens = tokens_for(account, server, send_as="json")

    tokens.get()

    (fetch,) = token_requests(server)
    assert fetch.header("Authorization") is None
    assert json.loads(fetch.body) == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }


def test_cache_entry_is_per_account_mode_and_client_id(account, server):
    tokens = tokens_for(account, server)
    key = tokens.cache_key

    assert str(account.pk) in key and account.mode in key
    assert CLIENT_ID not in key and SECRET not in key
    assert tokens_for(account, server, client_id="another-app").cache_key != key
    account.mode = "live"
    assert tokens_for(account, server).cache_key != key


def test_new_client_id_does_not_reuse_the_old_apps_token(account, server):
    server.route(
        "POST",
        TOKEN_PATH,
        respond(200, json=token_body("old-app")),
        respond(200, json=token_body("new-app")),
    )
    assert tokens_for(account, server).get() == "old-app"
    assert tokens_for(account, server, client_id="rotated").get() == "new-app"
    assert len(token_requests(server)) == 2


# --- Expiry ------------------------------------------------------------------


def test_token_is_refreshed_the_margin_before_it_expires(account, server, clock):
    server.route(
        "POST",
        TOKEN_PATH,
        respond(200, json=token_body("first", expires_in=3600)),
        respond(200, json=token_body("second", expires_in=3600)),
    )
    tokens = tokens_for(account, server, margin=300, clock=clock)

    assert tokens.get() == "first"
    clock.now += 3600 - 300 - 1  # one second inside the margin's edge
    assert tokens.get() == "first"
    clock.now += 1  # 300 s before PayPal-style expiry: fetch again
    assert tokens.get() == "second"
    assert len(token_requests(server)) == 2


def test_margin_comes_from_settings(account, server, clock):
    with override_settings(OAUTH_TOKEN_EXPIRY_MARGIN_SECONDS=600):
        tokens = tokens_for(account, server, clock=clock)
    assert tokens.margin == 600
    tokens.get()
    clock.now += 3600 - 600
    tokens.get()
    assert len(token_requests(server)) == 2


class RecordingCache:
    """The real cache, with the timeouts entries were stored with."""

    def __init__(self) -> None:
        self.timeouts: dict[str, int] = {}

    def __getattr__(self, name: str):
        return getattr(cache, name)

    def set(self, key: str, value, timeout: int) -> None:
        self.timeouts[key] = timeout
        cache.set(key, value, timeout)


def test_entry_lives_in_the_cache_until_the_margin(account, server, monkeypatch):
    from integrations import oauth

    recording = RecordingCache()
    monkeypatch.setattr(oauth, "cache", recording)
    tokens = tokens_for(account, server, margin=300)
    tokens.get()
    assert recording.timeouts == {tokens.cache_key: 3600 - 300}


def test_token_shorter_lived_than_the_margin_is_used_but_not_shared(account, server):
    server.route("POST", TOKEN_PATH, respond(200, json=token_body(expires_in=60)))
    tokens = tokens_for(account, server, margin=300)

    assert tokens.get() == "tok-1"
    assert tokens.get() == "tok-1"
    assert len(token_requests(server)) == 2
    assert cache.get(tokens.cache_key) is None


# --- 401 on the API call -------------------------------------------------------------


def test_401_refreshes_the_token_and_repeats_the_call_once(account, server):
    server.route(
        "POST",
        TOKEN_PATH,
        respond(200, json=token_body("revoked")),
        respond(200, json=token_body("fresh")),
    )
    server.route("GET", API_PATH, respond(401), respond(200, json={"id": "42"}))
    tokens = tokens_for(account, server)

    assert tokens.with_token(get_thing(account, server)) == {"id": "42"}

    assert bearers(server) == ["Bearer revoked", "Bearer fresh"]
    assert len(token_requests(server)) == 2
    assert tokens.get() == "fresh"  # the new token replaced the revoked one


def test_401_twice_is_raised_without_a_loop(account, server):
    server.route(
        "POST",
        TOKEN_PATH,
        respond(200, json=token_body("a")),
        respond(200, json=token_body("b")),
        respond(200, json=token_body("c")),
    )
    server.route("GET", API_PATH, respond(401))
    tokens = tokens_for(account, server)

    with pytest.raises(NotProcessed) as caught:
        tokens.with_token(get_thing(account, server))

    assert caught.value.http_status == 401
    assert caught.value.code == "authentication_failed"
    assert bearers(server) == ["Bearer a", "Bearer b"]
    assert len(token_requests(server)) == 2


def test_401_keeps_a_newer_token_another_process_fetched(account, server):
    server.route(
        "POST",
        TOKEN_PATH,
        respond(200, json=token_body("revoked")),
        respond(200, json=token_body("from-another-process")),
        respond(200, json=token_body("never-fetched")),
    )
    tokens = tokens_for(account, server)
    mine = tokens.get()
    # Meanwhile another process saw the 401 first and stored a new token.
    theirs = tokens_for(account, server).refresh(mine)

    assert tokens.refresh(mine) == theirs == "from-another-process"
    assert len(token_requests(server)) == 2
    assert tokens.get() == "from-another-process"


def test_other_errors_are_not_retried_with_a_new_token(account, server):
    server.route("GET", API_PATH, respond(403))
    tokens = tokens_for(account, server)

    with pytest.raises(NotProcessed) as caught:
        tokens.with_token(get_thing(account, server))

    assert caught.value.code == "permission_denied"
    assert len(bearers(server)) == 1
    assert len(token_requests(server)) == 1


# --- The token endpoint failing ------------------------------------------------------


def test_refused_client_credentials_are_not_processed(account, server):
    server.route("POST", TOKEN_PATH, respond(401, json={"error": "invalid_client"}))
    tokens = tokens_for(account, server)

    with pytest.raises(NotProcessed) as caught:
        tokens.with_token(get_thing(account, server))

    assert caught.value.code == "authentication_failed"
    assert len(token_requests(server)) == 1  # no refresh loop on the token itself
    assert bearers(server) == []


def test_token_response_without_a_token_is_not_processed(account, server):
    server.route("POST", TOKEN_PATH, respond(200, json={"token_type": "Bearer"}))
    with pytest.raises(NotProcessed) as caught:
        tokens_for(account, server).get()
    assert caught.value.code == "malformed_response"
    assert cache.get(tokens_for(account, server).cache_key) is None


def test_malformed_token_response_is_not_processed_for_the_operation(account, server):
    # Unknown for the token call (its row), but the operation behind it has
    # sent nothing: it may be retried or failed over.
    server.route("POST", TOKEN_PATH, malformed_json())
    with pytest.raises(NotProcessed) as caught:
        tokens_for(account, server).get()
    assert caught.value.code == "malformed_response"
    row = ProviderCall.objects.get(operation="acme_oauth_token")
    assert (row.outcome, row.error_code) == ("unknown", "malformed_response")
    assert bearers(server) == []


def test_a_token_lifetime_no_number_holds_is_not_processed(account, server):
    # expires_in 1e999 reads as infinity: our reading of the answer breaks,
    # and the operation behind the token has sent nothing.
    body = b'{"access_token": "tok-1", "expires_in": 1e999}'
    json_type = {"Content-Type": "application/json"}
    server.route("POST", TOKEN_PATH, respond(200, body=body, headers=json_type))
    tokens = tokens_for(account, server)
    with pytest.raises(NotProcessed) as caught:
        tokens.with_token(get_thing(account, server))
    assert caught.value.code == "malformed_response"
    assert bearers(server) == []


def test_any_fault_reading_a_token_answer_is_not_processed(
    account, server, monkeypatch
):
    from integrations import oauth

    def broken(response):
        raise RuntimeError("a bug reading the answer")

    monkeypatch.setattr(oauth, "_token_of", broken)
    with pytest.raises(NotProcessed) as caught:
        tokens_for(account, server).with_token(get_thing(account, server))
    assert caught.value.code == "malformed_response"
    assert bearers(server) == []


def test_a_very_long_lifetime_is_cached_a_day_at_most(account, server, monkeypatch):
    from integrations import oauth

    recording = RecordingCache()
    monkeypatch.setattr(oauth, "cache", recording)
    server.route("POST", TOKEN_PATH, respond(200, json=token_body(expires_in=10**12)))
    tokens = tokens_for(account, server, margin=300)
    assert tokens.get() == "tok-1"
    assert recording.timeouts == {tokens.cache_key: 24 * 3600}


@pytest.mark.parametrize(
    ("behaviour", "code"),
    [(respond(500, json={"error": "boom"}), "server_error"), (reset(), None)],
    ids=["5xx", "reset"],
)
def test_a_lost_token_answer_is_not_processed_for_the_operation(
    account, server, behaviour, code
):
    server.route("POST", TOKEN_PATH, behaviour)
    tokens = tokens_for(account, server)

    with pytest.raises(NotProcessed) as caught:
        tokens.with_token(get_thing(account, server))

    row = ProviderCall.objects.get(operation="acme_oauth_token")
    assert row.outcome == "unknown"  # the token call's own record is kept
    assert caught.value.code == row.error_code == (code or row.error_code)
    assert bearers(server) == []
    assert cache.get(tokens.cache_key) is None


def test_missing_client_secret_sends_nothing(account, server):
    credentials = ClientCredentials(server.url_for(TOKEN_PATH), CLIENT_ID, "")
    with pytest.raises(ConfigurationError) as caught:
        TokenCache(account, credentials, provider="acme")
    assert caught.value.code == "missing_credentials"
    assert server.requests == []


def test_tokens_and_secrets_are_never_logged(account, server, caplog):
    server.route("GET", API_PATH, respond(401), respond(200, json={}))
    caplog.set_level(logging.DEBUG)

    tokens = tokens_for(account, server)
    tokens.with_token(get_thing(account, server))

    records = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "oauth token fetched" in records
    assert "tok-1" not in records and SECRET not in records
    assert SECRET not in repr(tokens.credentials)


# --- Many callers at once ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@override_settings(
    CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
)
def test_concurrent_cold_callers_share_one_fetch(account, server):
    # A slow token endpoint keeps the window in which all find it cold wide.
    server.route("POST", TOKEN_PATH, respond(200, json=token_body(), latency=0.3))
    start = threading.Barrier(8)
    got: list[str] = []

    def caller() -> None:
        tokens = tokens_for(account, server)
        start.wait()
        got.append(tokens.get())

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert got == ["tok-1"] * 8
    assert len(token_requests(server)) == 1
