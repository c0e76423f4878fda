"""``pace`` refuses a paced call as not sent when it has no reservation
(Redis unreachable), by a real check: an ``assert`` held it before, which
``python -O`` strips (the call then died on ``None.granted``). Here the
outage note is made not to raise, as a later change to it might."""

from collections.abc import Iterator

import pytest

from integrations import ratelimit
from integrations.breaker.store import forget_recent
from integrations.errors import RedisUnreachable
from integrations.ratelimit import limiter_for
from integrations.redis_line import outage
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

LIMITS = {"rate_limit_per_second": 1, "rate_limit_burst": 1}


@pytest.fixture
def no_redis(settings) -> Iterator[None]:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    forget_recent()
    outage.forget()
    yield
    outage.forget()


def test_pace_without_a_reservation_refuses_as_not_sent(no_redis, monkeypatch):
    noted = []
    monkeypatch.setattr(ratelimit, "store_failed", lambda exc, paced: noted.append(exc))
    limiter = limiter_for(ProviderAccountFactory(slug="sbx-core24", settings=LIMITS))
    with pytest.raises(RedisUnreachable) as refused:
        limiter.pace(budget=1.0)
    assert refused.value.code == "store_unavailable"
    assert len(noted) == 1
