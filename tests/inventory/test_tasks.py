"""The scheduled tasks, and the sandbox ERP announcing its own stock changes
as signed inventory.updated webhooks that our intake applies."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from integrations.models import WebhookEvent
from integrations.providers import sandbox_webhooks
from integrations.webhooks.services import webhook_event_process
from inventory import services, tasks
from inventory.models import Reservation, SandboxErpLevel, StockLevel, SyncRun
from inventory.providers.sandbox import (
    SandboxInventoryAdapter,
    sandbox_erp_set_levels,
)
from inventory.services import LineRequest
from tests.contract.sandbox import SECRET
from tests.factories import ProviderAccountFactory
from tests.inventory.factories import StockLevelFactory

pytestmark = pytest.mark.django_db


def test_expire_task_releases_past_reservations():
    StockLevelFactory(sku="A", on_hand=3)
    past = timezone.now() - timedelta(hours=1)
    services.reservation_create(
        order_id="o", lines=[LineRequest("A", 3)], ttl_seconds=60, now=past
    )
    assert tasks.expire_reservations() == 1
    assert Reservation.objects.get().status == "expired"
    assert StockLevel.objects.get(sku="A").reserved == 0


def test_scheduled_sync_skips_an_account_already_syncing(
    django_capture_on_commit_callbacks,
):
    idle = ProviderAccountFactory(kind="inventory", slug="erp-idle", priority=1)
    busy = ProviderAccountFactory(kind="inventory", slug="erp-busy", priority=2)
    SandboxErpLevel.objects.create(account=idle, sku="A", location_code="MAIN")
    services.sync_run_start(account=busy)
    # The account's run is its own task, enqueued on commit (run at once:
    # Q_SYNC in tests).
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sync_all_accounts() == 1
    assert StockLevel.objects.filter(source=idle).count() == 1


class PageClock:
    """The sync's clock (its time budget's), moved on only by the ERP's
    pages: a task's time is the work it did, whatever the machine's pace."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def test_the_scheduled_sync_ends_every_task_within_the_cluster_timeout(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    """With Q_TIMEOUT 1 s, an account whose sync takes 2.5 s (25 pages of
    0.1 s: a big TradeGecko account at one request a second) is worked by
    several tasks of one time budget each, never killed mid-run; the
    schedule only queues one task per account. Every page is asked once,
    in order, across the tasks. Time is the pages' (``PageClock``)."""
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 1}
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    slow = ProviderAccountFactory(kind="inventory", slug="erp-slow", priority=1)
    quick = ProviderAccountFactory(kind="inventory", slug="erp-quick", priority=2)
    for n in range(25):
        SandboxErpLevel.objects.create(
            account=slow, sku=f"S{n:02}", location_code="MAIN", on_hand=n
        )
    SandboxErpLevel.objects.create(
        account=quick, sku="Q", location_code="MAIN", on_hand=1
    )
    real, asked, clock = SandboxInventoryAdapter.levels, [], PageClock()

    def one_request_per_page(self, query):
        if self.account == slow:
            asked.append(query.cursor)
            clock.now += 0.1
        return real(self, query)

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", one_request_per_page)
    monkeypatch.setattr("inventory.services.sync.time", clock)
    queue: list[int] = []
    monkeypatch.setattr(
        "inventory.services.sync.async_task",
        lambda func, run_id, **kw: queue.append(run_id),
        raising=False,
    )
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sync_all_accounts()
    assert asked == [], "the schedule synced an account itself"
    took = []
    assert len(queue) == 2  # one task per account
    while queue:
        with django_capture_on_commit_callbacks(execute=True):
            began = clock.now
            tasks.run_sync(queue.pop(0))
            took.append(clock.now - began)

    assert max(took) < 1, f"a task outlived Q_TIMEOUT: {took}"
    run = SyncRun.objects.get(account=slow)
    assert (run.status, run.pages, run.items_seen) == ("succeeded", 25, 25)
    assert len(took) >= 1 + 5  # the quick account, then 2.5 s in tasks of 0.5 s
    assert asked == [str(n) if n else "" for n in range(25)]
    assert StockLevel.objects.filter(source=slow).count() == 25
    assert SyncRun.objects.get(account=quick).status == "succeeded"


def test_sandbox_erp_announces_its_changes(
    settings, django_capture_on_commit_callbacks
):
    settings.SANDBOX_WEBHOOK_BASE_URL = "http://127.0.0.1:9"
    account = ProviderAccountFactory(kind="inventory", slug="erp-hooks")
    StockLevelFactory(sku="A", on_hand=10)
    with django_capture_on_commit_callbacks() as callbacks:
        (record,) = sandbox_erp_set_levels(account=account, levels=[("A", "MAIN", 4)])
    assert SandboxErpLevel.objects.get(account=account, sku="A").on_hand == 4
    (delivery,) = callbacks
    body = json.loads(delivery.keywords["body"])
    assert body["type"] == "inventory.updated"
    assert body["data"]["levels"][0]["on_hand"] == 4
    # What the delivery posts, verified and applied by the intake.
    raw = delivery.keywords["body"].encode()
    headers = sandbox_webhooks.webhook_headers(
        secret=SECRET, webhook_id=delivery.keywords["webhook_id"], body=raw
    )
    wsgi = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    response = Client().post(
        "/webhooks/erp-hooks/", data=raw, content_type="application/json", **wsgi
    )
    assert response.status_code < 300, response.content
    webhook_event_process(event_id=WebhookEvent.objects.get().pk)
    level = StockLevel.objects.get(sku="A")
    assert (level.on_hand, level.erp_modified_at) == (4, record.modified_at)


def test_the_schedule_syncs_in_full_once_a_day_and_incrementally_between(
    settings, django_capture_on_commit_callbacks
):
    settings.INVENTORY_SYNC_FULL_EVERY_HOURS = 24
    erp = ProviderAccountFactory(kind="inventory", slug="erp-daily")
    SandboxErpLevel.objects.create(account=erp, sku="A", location_code="MAIN")

    with django_capture_on_commit_callbacks(execute=True):
        tasks.sync_all_accounts()  # never synced in full: a full run
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sync_all_accounts()  # full within a day: incremental
    SyncRun.objects.filter(full=True).update(
        started_at=timezone.now() - timedelta(hours=25)
    )
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sync_all_accounts()  # the day is over: full again

    runs = list(SyncRun.objects.order_by("pk").values_list("full", "status"))
    assert runs == [(True, "succeeded"), (False, "succeeded"), (True, "succeeded")]


def test_a_partial_full_sync_is_not_repeated_on_every_tick(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    # One ERP page that always fails in a full listing: the daily full sync
    # is partial, and the next ticks are incremental, not full after full.
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    erp = ProviderAccountFactory(kind="inventory", slug="erp-flaky")
    for sku in ("A", "B"):
        SandboxErpLevel.objects.create(account=erp, sku=sku, location_code="MAIN")
    real = SandboxInventoryAdapter.levels

    def second_page_fails(self, query):
        if query.cursor == "1" and query.since is None:
            from integrations.errors import Unknown

            raise Unknown("ERP timed out", code="read_timeout")
        return real(self, query)

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", second_page_fails)
    # An incremental run succeeded an hour ago: later ones start from it.
    SyncRun.objects.create(
        account=erp, status="succeeded", started_at=timezone.now() - timedelta(hours=1)
    )
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            tasks.sync_all_accounts()

    runs = list(SyncRun.objects.order_by("pk").values_list("full", "status"))
    assert runs[1:] == [(True, "partial"), (False, "succeeded")]
