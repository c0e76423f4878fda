"""TradeGecko's 300 requests per 300 seconds are per application and account:
every client of the same token (a storefront app, a shipping plugin) spends
the same window. By default the adapter takes two thirds of it, leaving the
rest to the others; an account that is its token's only client (or shares it
differently) sets its own share with the shared limiter's per-account rate
and burst, no pacing of its own."""

import pytest

from integrations.ratelimit import LimitConfig
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.test_inv41b_pacing import PUBLISHED_LIMIT, WINDOW_SECONDS

pytestmark = pytest.mark.django_db

DEFAULT_SHARE = 2 / 3


def _most_in_one_window(config: LimitConfig) -> float:
    # A full bucket at the window's start plus its refill over the window
    # (test_inv41b_pacing simulates the shared bucket to the same bound).
    return config.burst + config.rate * WINDOW_SECONDS


def test_the_default_leaves_a_third_of_the_window_to_other_clients():
    config = LimitConfig.for_account(tg.make_account())
    assert _most_in_one_window(config) <= PUBLISHED_LIMIT * DEFAULT_SHARE


def test_the_default_still_uses_its_share():
    config = LimitConfig.for_account(tg.make_account())
    assert _most_in_one_window(config) >= PUBLISHED_LIMIT * DEFAULT_SHARE * 0.95


def test_an_account_sets_its_own_share_through_the_shared_limiter():
    account = tg.make_account()
    # The token's only client: the whole published window.
    account.settings = {
        **account.settings,
        "rate_limit_per_second": 0.9,
        "rate_limit_burst": 30,
    }
    account.save()
    config = LimitConfig.for_account(account)
    assert (config.rate, config.burst) == (0.9, 30)
    assert _most_in_one_window(config) == PUBLISHED_LIMIT
