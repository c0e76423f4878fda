"""The open states a process keeps for a Redis outage, checked against what
staff do and against Redis's clock:

- staff close a breaker by hand (mode "forced closed", published while Redis
  answers): in a later outage the account is called at once, not skipped
  for the rest of the open period this process last read (the row's mode
  decides, the account rows are read per request);
- the open period is kept on this host's monotonic clock converted from
  Redis's: a Redis clock an hour off the host's changes nothing."""

import copy
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache

from integrations import cache_clock, redis_line
from integrations.breaker import breaker_for, breaker_mode_set
from integrations.breaker.store import BreakerStore, forget_recent
from integrations.models import ProviderAccount
from payments import services
from tests.factories import ProviderAccountFactory

REAL_CACHES = copy.deepcopy(django_settings.CACHES)
REFUSED = {"default": {**REAL_CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
OPEN_SECONDS = 60.0


def _open_record(now: float) -> dict[str, Any]:
    return {
        "state": "open",
        "gen": 1,
        "opened_until": now + OPEN_SECONDS,
        "last_state": "open",
        "at": now,
        "reason": "test",
    }


@pytest.fixture
def read_open(settings) -> Iterator[tuple[ProviderAccount, Callable[[], None]]]:
    limits = {"breaker_open_seconds": OPEN_SECONDS}
    primary = ProviderAccountFactory(slug="sbx-primary", priority=1, settings=limits)
    ProviderAccountFactory(slug="sbx-secondary", priority=2)
    forget_recent()
    breaker = breaker_for(primary)
    breaker.store.save_record(_open_record(breaker.store.now()))
    assert breaker.snapshot().state == "open"

    def redis_gone() -> None:
        settings.CACHES = copy.deepcopy(REFUSED)
        redis_line.outage.forget()

    yield primary, redis_gone
    forget_recent()


def _pay(n: int) -> Any:
    return services.payment_create(
        order_id=f"order-rc22s-{n}",
        amount=1050,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key=f"key-rc22s-{n}",
    )


@pytest.mark.redis
@pytest.mark.django_db
def test_a_breaker_staff_closed_is_called_in_a_later_outage(read_open):
    primary, redis_gone = read_open
    breaker_mode_set(account=primary, mode="forced_closed", actor="staff")
    assert _pay(0).account.slug == "sbx-primary"  # Redis up: forced closed
    redis_gone()
    assert _pay(1).account.slug == "sbx-primary"
    assert _pay(2).account.slug == "sbx-primary"


@pytest.mark.redis
@pytest.mark.django_db
def test_staff_back_to_auto_in_the_open_period_keeps_it_open(read_open):
    # With Redis the record is still open until its end: the outage agrees.
    primary, redis_gone = read_open
    breaker_mode_set(account=primary, mode="forced_closed", actor="staff")
    breaker_mode_set(account=primary, mode="auto", actor="staff")
    assert breaker_for(primary).snapshot().state == "open"
    redis_gone()
    assert _pay(0).account.slug == "sbx-secondary"


def test_a_redis_clock_an_hour_off_keeps_the_open_period(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    cache.clear()
    forget_recent()
    learnt, skew = cache_clock._redis_time["learnt"], cache_clock._skew["off"]
    redis_now = time.time() + 3600  # Redis's clock an hour ahead of ours
    cache_clock.learn_redis_time([int(redis_now), 0])
    store = BreakerStore(1, window_seconds=60, buckets=6)
    store.save_record(_open_record(int(redis_now)))
    try:
        assert OPEN_SECONDS - 2 < store.known_open() <= OPEN_SECONDS
    finally:
        forget_recent()
        cache_clock._redis_time["learnt"], cache_clock._skew["off"] = learnt, skew
