"""An OAuth provider (PayPal, UPS, FedEx, USPS, NetSuite) while Redis cannot
be reached: the shared token entry and its fetch lock live there, but the
payment path fails open (docs/transport.md), so the call goes on with a
token this process keeps (fetched once, then reused until it expires),
never a raw RedisError (a 500 at the API); the outage is noted once."""

import copy
import logging

import pytest
from django.conf import settings as django_settings

from integrations import redis_line
from integrations.breaker.store import forget_recent
from integrations.oauth import TokenCache
from integrations.redis_line import RedisPaused, outage
from tests.integrations.oauth.conftest import TOKEN_PATH
from tests.integrations.oauth.test_bearer_adapter import AcmeAdapter, bearers

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

REAL_CACHES = copy.deepcopy(django_settings.CACHES)
REFUSED = {"default": {**REAL_CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}


@pytest.fixture
def adapter(account, server, monkeypatch) -> AcmeAdapter:
    monkeypatch.setattr(AcmeAdapter, "base_urls", {"test": server.url})
    return AcmeAdapter(account)


@pytest.fixture
def no_redis(settings):
    settings.CACHES = copy.deepcopy(REFUSED)
    forget_recent()
    outage.forget()
    yield
    forget_recent()


def test_a_call_gets_a_token_in_an_outage(no_redis, adapter, server):
    assert adapter.thing() == {"id": "42"}
    assert bearers(server) == ["Bearer tok-1"]
    with pytest.raises(RedisPaused):
        outage.check()


def test_the_token_is_fetched_once_and_kept(no_redis, adapter, account, server, caplog):
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        assert AcmeAdapter(account).thing() == {"id": "42"}
    assert len(server.requests_for("POST", TOKEN_PATH)) == 1
    warned = [r.name for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == [redis_line.logger.name]


def test_a_token_fetched_when_redis_went_mid_fetch_is_kept(
    adapter, account, server, settings, monkeypatch
):
    # The lock was taken on Redis; Redis went before the token was stored.
    forget_recent()
    outage.forget()
    fetch = TokenCache.fetch

    def fetch_then_redis_gone(tokens: TokenCache) -> str:
        settings.CACHES = copy.deepcopy(REFUSED)
        return fetch(tokens)

    monkeypatch.setattr(TokenCache, "fetch", fetch_then_redis_gone)
    assert adapter.thing() == {"id": "42"}
    monkeypatch.setattr(TokenCache, "fetch", fetch)
    assert AcmeAdapter(account).thing() == {"id": "42"}
    assert len(server.requests_for("POST", TOKEN_PATH)) == 1
