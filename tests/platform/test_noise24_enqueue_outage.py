"""The enqueue sites whose work is a database row (an email, a sync run, a
hold forward, a batch job, a storefront webhook delivery) in a Redis
outage: the outage record warns once; each refused enqueue is a line at
INFO without traceback, and the row is kept for its sweeper. Any other
broker failure is still an ERROR with its traceback."""

import logging
from collections.abc import Iterator

import pytest
from django_q.conf import Conf

from integrations import redis_line
from integrations.batch import batch_job_create
from integrations.events import event_emit
from integrations.models import BatchJob, BatchJobStatus
from integrations.redis_line import outage
from integrations.task_batcher import shared_broker
from integrations.task_broker import RedisTaskBroker
from inventory import services as inventory
from inventory.models import ForwardStatus, ReservationForward, SyncRun
from inventory.services import LineRequest
from notifications.models import EmailMessage, EmailStatus
from notifications.services import email_message_create
from storefront_hooks import services as hooks
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services import queue
from tests.integrations.batch.handlers import H
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.factories import LocationFactory, StockLevelFactory

pytestmark = pytest.mark.django_db

SENDS = 3


@pytest.fixture
def broker(monkeypatch, settings) -> Iterator[None]:
    """The project's Redis task broker pointed where nothing listens."""
    settings.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {
        "payment.*": ["storefront_hooks.services.event_fan_out"]
    }
    monkeypatch.setattr(
        Conf, "BROKER_CLASS", "integrations.task_broker.RedisTaskBroker"
    )
    monkeypatch.setattr(Conf, "REDIS", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(Conf, "SYNC", False)
    shared_broker.cache_clear()
    outage.forget()
    assert isinstance(shared_broker(), RedisTaskBroker)
    yield
    shared_broker.cache_clear()
    outage.forget()


@pytest.fixture
def faulty(monkeypatch, broker) -> None:
    """A broker that fails with something other than Redis being down."""

    def fail(self, task):
        raise RuntimeError("broker bug")

    monkeypatch.setattr(RedisTaskBroker, "enqueue", fail)


def _emails(capture) -> list[EmailMessage]:
    sent = []
    for n in range(SENDS):
        with capture(execute=True):
            sent.append(
                email_message_create(
                    to=f"buyer{n}@example.com",
                    template="order_confirmation",
                    context={"order_id": f"o{n}", "amount_display": "€10.50"},
                )
            )
    return sent


def _sync_runs(capture) -> list[SyncRun]:
    runs = []
    for _ in range(SENDS):
        account = hs.make_account()  # one open run per account
        with capture(execute=True):
            runs.append(inventory.sync_run_queue(account=account))
    return runs


def _forwards(capture) -> list[ReservationForward]:
    account = hs.make_account()
    account.settings = {"max_attempts": 1}
    account.save()
    StockLevelFactory(
        sku="WIDGET-RED",
        location=LocationFactory(code="main"),
        on_hand=10,
        source=account,
    )
    for n in range(SENDS):
        with capture(execute=True):
            inventory.reservation_create(
                order_id=f"order-{n}", lines=[LineRequest("WIDGET-RED", 1)]
            )
    return list(ReservationForward.objects.all())


def _batch_jobs(capture) -> list[BatchJob]:
    jobs = []
    for n in range(SENDS):
        with capture(execute=True):
            jobs.append(
                batch_job_create(
                    kind="email.campaign",
                    name=f"noise24 {n}",
                    handler=f"{H}.record",
                    items=[("a", {})],
                )
            )
    return jobs


def _deliveries(capture) -> list[WebhookDelivery]:
    hooks.endpoint_create(url="http://127.0.0.1:9/hook", event_types=["payment.*"])
    for n in range(SENDS):
        # The outbox's own hand-off is not this site's: not run.
        with capture(execute=False):
            event = event_emit(name="payment.captured", payload={"order_id": f"o{n}"})
            hooks.event_fan_out(event)
    deliveries = list(WebhookDelivery.objects.all())
    for delivery in deliveries:  # the sweeper's way in, as fan-out's on commit
        queue.enqueue(delivery.pk)
    return deliveries


SITES = {
    "email": (
        _emails,
        lambda rows: {r.status for r in _fresh(rows)} == {EmailStatus.QUEUED},
    ),
    "sync": (_sync_runs, lambda rows: len(_fresh(rows)) == SENDS),
    "forward": (
        _forwards,
        lambda rows: {r.status for r in _fresh(rows)} == {ForwardStatus.PENDING},
    ),
    "batch": (
        _batch_jobs,
        lambda rows: {r.status for r in _fresh(rows)} == {BatchJobStatus.RUNNING},
    ),
    "hooks": (_deliveries, lambda rows: len(_fresh(rows)) >= SENDS),
}


def _fresh(rows: list) -> list:
    return [type(row).objects.get(pk=row.pk) for row in rows]


@pytest.mark.parametrize("site", list(SITES))
def test_sends_in_an_outage_log_no_error_and_keep_their_rows(
    site, broker, django_capture_on_commit_callbacks, caplog
):
    make, kept = SITES[site]
    caplog.set_level(logging.INFO)

    rows = make(django_capture_on_commit_callbacks)

    assert len(rows) >= SENDS
    assert kept(rows), rows
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert not [r for r in caplog.records if r.exc_info], "a traceback per enqueue"
    # The outage's one warning, from the outage record.
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.name for r in warned] == [redis_line.logger.name], warned
    refused = [r for r in caplog.records if "not enqueued (Redis:" in r.getMessage()]
    assert len(refused) >= SENDS
    assert {r.levelno for r in refused} == {logging.INFO}


@pytest.mark.parametrize("site", list(SITES))
def test_another_broker_failure_is_an_error_with_its_traceback(
    site, faulty, django_capture_on_commit_callbacks, caplog
):
    make, kept = SITES[site]

    rows = make(django_capture_on_commit_callbacks)

    assert kept(rows), rows
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) >= SENDS, [r.getMessage() for r in caplog.records]
    assert all(r.exc_info and r.exc_info[0] is RuntimeError for r in errors)
