"""Rate shopping (the parallel fan-out) while Redis cannot be reached: its
breaker pre-check goes the way the payment path's does (store_guard): every
carrier is asked, except one staff forced open or one this process last read
open, which fails as breaker_open; never a raw RedisError (a 500 at the API)."""

import copy
from collections.abc import Callable, Iterator

import pytest
from django.conf import settings as django_settings

from integrations import redis_line
from integrations.breaker import breaker_for
from integrations.breaker.store import forget_recent
from integrations.models import ProviderAccount
from integrations.models.accounts import BreakerMode
from shipping import services
from tests.integrations.fanout.conftest import threads_db  # noqa: F401
from tests.shipping.contract import requests
from tests.shipping.helpers import carrier

pytestmark = [
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]

REAL_CACHES = copy.deepcopy(django_settings.CACHES)
REFUSED = {"default": {**REAL_CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}


@pytest.fixture
def redis_gone(settings) -> Iterator[Callable[[], None]]:
    def go() -> None:
        settings.CACHES = copy.deepcopy(REFUSED)
        redis_line.outage.forget()

    forget_recent()
    yield go
    forget_recent()


def _shop() -> services.RateShopResult:
    return services.rates_shop(request=requests.rate_request())


def test_every_carrier_is_asked_in_an_outage(redis_gone):
    carrier("cheap-post", price_factor=0.8)
    carrier("dear-express", price_factor=1.5)
    redis_gone()
    result = _shop()
    assert {q.account for q in result.quotes} == {"cheap-post", "dear-express"}
    assert result.failures == ()


def test_a_carrier_forced_open_is_skipped_in_an_outage(redis_gone):
    carrier("cheap-post")
    held = carrier("held")
    ProviderAccount.objects.filter(pk=held.pk).update(
        breaker_mode=BreakerMode.FORCED_OPEN
    )
    redis_gone()
    result = _shop()
    assert {q.account for q in result.quotes} == {"cheap-post"}
    assert [(f.account, f.reason) for f in result.failures] == [
        ("held", "breaker_open")
    ]


def test_a_carrier_read_open_is_skipped_in_an_outage(redis_gone):
    carrier("cheap-post")
    down = carrier("down-post", breaker_open_seconds=60)
    breaker = breaker_for(down)
    now = breaker.store.now()
    breaker.store.save_record(
        {
            "state": "open",
            "gen": 1,
            "opened_until": now + 60,
            "last_state": "open",
            "at": now,
            "reason": "test",
        }
    )
    assert breaker.snapshot().state == "open"
    redis_gone()
    result = _shop()
    assert {q.account for q in result.quotes} == {"cheap-post"}
    assert [(f.account, f.reason) for f in result.failures] == [
        ("down-post", "breaker_open")
    ]
