"""TradeGecko's published limit is 300 requests per 300-second window
(``X-Rate-Limit-Limit: 300``, ``X-Rate-Limit-Reset`` on the 5-minute mark in
its recorded answers). The adapter's default pacing must keep a window's
requests within it, burst included."""

import pytest

from integrations.ratelimit import LimitConfig, reserve_token
from tests.inventory.contract import harness_tradegecko as tg

pytestmark = pytest.mark.django_db

WINDOW_SECONDS = 300
PUBLISHED_LIMIT = 300


def _granted_in_one_window(config: LimitConfig) -> int:
    """Requests the shared bucket lets through in one window, a full bucket
    at its start and every caller asking as often as it may (every 10 ms)."""
    state, granted = None, 0
    for step in range(WINDOW_SECONDS * 100):
        now = step / 100
        while True:
            reservation, new = reserve_token(
                state, now=now, rate=config.rate, burst=config.burst, max_wait=0
            )
            if not reservation.granted:
                break
            state, granted = new, granted + 1
    return granted


def test_the_default_pacing_stays_within_the_published_window():
    config = LimitConfig.for_account(tg.make_account())
    assert config.rate is not None
    # A full bucket plus a window's refill is the most one window can see.
    assert config.burst + config.rate * WINDOW_SECONDS <= PUBLISHED_LIMIT
    assert _granted_in_one_window(config) <= PUBLISHED_LIMIT


# The window is shared by every client of the token: the default takes two
# thirds of it (test_inv42_tradegecko_share).
DEFAULT_SHARE = 2 / 3


def test_the_default_pacing_still_uses_most_of_the_window():
    # Not paced to a crawl: at least nine tenths of its share of the window.
    config = LimitConfig.for_account(tg.make_account())
    assert _granted_in_one_window(config) >= PUBLISHED_LIMIT * DEFAULT_SHARE * 0.9
