import pytest

from integrations.models import ProviderAccount
from tests.factories import ProviderAccountFactory

START = 1_700_000_000.0

# Small numbers so every transition is a few calls away.
BREAKER_SETTINGS = {
    "breaker_failure_rate": 0.5,
    "breaker_min_calls": 4,
    "breaker_window_seconds": 60,
    "breaker_consecutive_failures": 3,
    "breaker_open_seconds": 30,
    "breaker_probe_timeout_seconds": 10,
}


class FakeClock:
    """Wall clock the test moves by hand; ``sleep`` advances it."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def account(db) -> ProviderAccount:
    return ProviderAccountFactory(slug="pay-primary", settings=dict(BREAKER_SETTINGS))


@pytest.fixture
def shared_clock(clock: FakeClock, settings, monkeypatch) -> FakeClock:
    """``clock`` as the bucket's and the breaker's clock too. Both go by the
    shared store's clock, never the worker's: here a local cache whose shared
    clock (the database's in production) is the hand-moved one. Redis's own
    clock (TIME in the scripts) is tested in tests/integrations/test_core4_*
    and test_clk_*."""
    from django.core.cache import cache

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    cache.clear()
    monkeypatch.setattr("integrations.cache_clock.shared_now", clock)
    return clock
