"""BearerTokenAuth on an HttpAdapter: the base's one send, with the shared
token, and one resend after a 401 (local fault server)."""

from typing import ClassVar

import pytest

from integrations.errors import ConfigurationError, NotProcessed
from integrations.oauth import BearerTokenAuth, ClientCredentials
from integrations.providers.base import HealthResult
from integrations.providers.http import HttpAdapter
from integrations.testing.faultserver import respond
from tests.integrations.oauth.conftest import API_PATH, TOKEN_PATH, token_body

pytestmark = pytest.mark.django_db


class AcmeAdapter(BearerTokenAuth, HttpAdapter):
    kind = "shipping"
    code = "acme"
    display_name = "Acme Freight"
    base_urls: ClassVar[dict[str, str]] = {}

    def oauth_credentials(self) -> ClientCredentials:
        return ClientCredentials(
            token_url=self.base_url + TOKEN_PATH,
            client_id=self.credential("client_id"),
            client_secret=self.credential("client_secret"),
        )

    def health_check(self) -> HealthResult:
        self.oauth_tokens().fetch()
        return HealthResult(ok=True)

    def thing(self) -> dict:
        return self.send("GET", API_PATH, operation="acme_get_thing")


@pytest.fixture
def adapter(account, server, monkeypatch) -> AcmeAdapter:
    monkeypatch.setattr(AcmeAdapter, "base_urls", {"test": server.url})
    return AcmeAdapter(account)


def bearers(server) -> list[str]:
    return [r.header("Authorization") for r in server.requests_for("GET", API_PATH)]


def test_calls_share_one_token(adapter, account, server):
    assert adapter.thing() == {"id": "42"}
    assert AcmeAdapter(account).thing() == {"id": "42"}

    assert bearers(server) == ["Bearer tok-1", "Bearer tok-1"]
    assert len(server.requests_for("POST", TOKEN_PATH)) == 1


def test_401_resends_once_with_a_new_token(adapter, server):
    server.route(
        "POST",
        TOKEN_PATH,
        respond(200, json=token_body("revoked")),
        respond(200, json=token_body("fresh")),
    )
    server.route("GET", API_PATH, respond(401), respond(200, json={"id": "42"}))

    assert adapter.thing() == {"id": "42"}
    assert bearers(server) == ["Bearer revoked", "Bearer fresh"]
    # The next call uses the new shared token without fetching again.
    assert adapter.thing() == {"id": "42"}
    assert bearers(server)[-1] == "Bearer fresh"
    assert len(server.requests_for("POST", TOKEN_PATH)) == 2


def test_second_401_is_raised(adapter, server):
    server.route(
        "POST",
        TOKEN_PATH,
        respond(200, json=token_body("a")),
        respond(200, json=token_body("b")),
    )
    server.route("GET", API_PATH, respond(401))

    with pytest.raises(NotProcessed) as caught:
        adapter.thing()

    assert caught.value.http_status == 401
    assert bearers(server) == ["Bearer a", "Bearer b"]


def test_refused_client_credentials_are_raised_without_a_resend(adapter, server):
    server.route("POST", TOKEN_PATH, respond(401, json={"error": "invalid_client"}))

    with pytest.raises(NotProcessed) as caught:
        adapter.thing()

    assert caught.value.code == "authentication_failed"
    assert len(server.requests_for("POST", TOKEN_PATH)) == 1
    assert bearers(server) == []


def test_missing_client_secret_sends_nothing(adapter, account, server):
    account.set_credentials({"client_id": "only-the-id"})

    with pytest.raises(ConfigurationError) as caught:
        AcmeAdapter(account).thing()

    assert caught.value.code == "missing_credentials"
    assert "client_secret" in str(caught.value)
    assert server.requests == []
