"""The look-ups before a full run zeroes levels gone from TradeGecko's
listing (``GET /variants?sku=``, up to INVENTORY_SYNC_GONE_LOOKUPS SKUs of
up to four pages each) ran in the run's last step with no time budget: at
TradeGecko's one request a second, 25 SKUs could take longer than the
task's whole Q_TIMEOUT, and the killed task ended nothing. They now obey
the task's budget: the last step gets a task of its own when the pages
left it too little, and the SKUs not asked by the deadline are zeroed on
the listing's word (``gone_unconfirmed``), as those over the bound are.
Time is the requests' (one second each), whatever the machine's pace."""

import pytest
import responses

from inventory import tasks
from inventory.models import SyncRun, SyncStatus
from inventory.services import sync_run_start
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.paged_erp import SKUS, gecko_paged_account, synced_levels
from tests.inventory.test_inv24_growth_and_deletion import StagedGecko
from tests.inventory.test_revinv20_restored_variant import _variant

pytestmark = pytest.mark.django_db

GONE = [f"G{n:02d}" for n in range(1, 21)]
BUDGET = 4.0


class RequestClock:
    """The sync's clock, moved on one second by each TradeGecko request."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class SlowGecko(StagedGecko):
    def __init__(self, variants: list[dict], clock: RequestClock) -> None:
        super().__init__(variants)
        self.clock = clock

    def answer(self, request):
        self.clock.now += 1.0
        return super().answer(request)


@pytest.fixture
def account(settings):
    return gecko_paged_account(settings)


def _tasks_run(account, gecko, monkeypatch, on_commit) -> list[float]:
    """A full run worked task by task as the workers do; each task's time."""
    queue: list[int] = []
    monkeypatch.setattr(
        "inventory.services.sync.async_task",
        lambda func, run_id, **kw: queue.append(run_id),
    )
    took = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.GET, tg.VARIANTS, callback=gecko.answer)
        queue.append(sync_run_start(account=account, full=True).pk)
        while queue:
            began = gecko.clock.now
            with on_commit(execute=True):  # the next task enqueued
                tasks.run_sync(queue.pop(0))
            took.append(gecko.clock.now - began)
    return took


def test_the_gone_look_ups_keep_to_the_tasks_budget(
    account, settings, monkeypatch, django_capture_on_commit_callbacks
):
    clock = RequestClock()
    gecko = SlowGecko(
        [_variant(n * 10, sku) for n, sku in enumerate(SKUS, start=1)]
        + [_variant(1000 + n, sku) for n, sku in enumerate(GONE)],
        clock,
    )
    assert gecko.sync(account, full=True).status == SyncStatus.SUCCEEDED
    for sku in GONE:
        gecko.set_status(sku, "archived")
    settings.INVENTORY_SYNC_TIME_BUDGET_SECONDS = BUDGET
    monkeypatch.setattr("inventory.services.sync.time", clock)
    monkeypatch.setattr("inventory.services.sync_confirm.time", clock, raising=False)

    took = _tasks_run(account, gecko, monkeypatch, django_capture_on_commit_callbacks)

    # One request may run past the deadline (it is never cut), no more.
    assert max(took) <= BUDGET + 1, took
    run = SyncRun.objects.latest("pk")
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    levels = synced_levels()
    assert all(levels[sku] == 0 for sku in GONE)
    assert all(levels[sku] == 6 for sku in SKUS)
    asked = set(gecko.looked_up)
    assert asked and len(asked) < len(GONE)  # some asked, the rest by deadline
    [note] = [e for e in run.errors if e["code"] == "gone_unconfirmed"]
    assert note["message"].startswith(f"{len(GONE) - len(asked)} level(s)"), note
