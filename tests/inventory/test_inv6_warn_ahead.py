"""ERP times "ahead of our clock" are logged by the database's clock, the one
our stamps are compared by, not by the clock of the worker that happens to
read the ERP's answer."""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import machine_clock, shared_by_machines
from tests.inventory.test_webhooks import (  # noqa: F401
    _stock_deliver,
    _stock_event,
    stock_hooks,
)

pytestmark = pytest.mark.django_db

SKEW = 240


@pytest.fixture(autouse=True)
def _two_machines() -> None:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")


def _warned(caplog, stamp, seconds: int) -> list:
    levels = [{"sku": "A", "location": "main", "on_hand": 1, "modified_at": stamp}]
    logged = caplog.at_level("WARNING", logger="inventory.providers.base")
    with logged, machine_clock(seconds):
        _stock_deliver(_stock_event(levels))
    return [r for r in caplog.records if "ahead of our clock" in r.getMessage()]


def test_a_time_ahead_of_the_database_is_warned_by_a_fast_worker(
    stock_hooks,  # noqa: F811
    caplog,
):
    stamp = (database_now() + timedelta(minutes=7)).isoformat()
    assert [r.count for r in _warned(caplog, stamp, SKEW)] == [1]


def test_a_credible_time_is_not_warned_by_a_slow_worker(
    stock_hooks,  # noqa: F811
    caplog,
):
    stamp = (database_now() + timedelta(minutes=1)).isoformat()
    assert _warned(caplog, stamp, -2 * SKEW) == []
