"""The minutely sweep: the age limit counts from staff's last restart, and
each run reads only the rows it may act on, however many wait paused or
for a disabled endpoint."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from integrations.breaker import breaker_mode_set
from integrations.events import event_emit
from integrations.models import DeliveryStatus
from integrations.models.accounts import BreakerMode
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services import deliveries, sweep
from tests.storefront_hooks.conftest import HOOK_PATH, machine_clock

pytestmark = pytest.mark.django_db

TABLE = WebhookDelivery._meta.db_table


def _emit(order_id: str = "ord_1") -> WebhookDelivery:
    event = event_emit(name="payment.captured", payload={"order_id": order_id})
    services.event_fan_out(event)
    return WebhookDelivery.objects.get(event=event)


@pytest.fixture
def no_enqueue(monkeypatch) -> list[int]:
    queued: list[int] = []
    monkeypatch.setattr(sweep, "enqueue", queued.append)
    return queued


def _restart(how: str, endpoint, ids: list[int]) -> None:
    if how == "enable":  # rows that waited while the endpoint was disabled
        services.endpoint_disable(endpoint=endpoint, reason="maintenance")
        endpoint.refresh_from_db()
        services.endpoint_enable(endpoint=endpoint)
    else:  # "Send again" on rows the age limit ended
        WebhookDelivery.objects.update(status=DeliveryStatus.DEAD)
        services.deliveries_resend(delivery_ids=ids)


@pytest.mark.parametrize("how", ["enable", "send-again"])
def test_rows_staff_restart_are_not_ended_by_the_next_sweep_unsent(
    settings, receiver, make_endpoint, no_enqueue, how
) -> None:
    # More rows than one batch: the sweep, not the restart, queues the rest.
    settings.STOREFRONT_WEBHOOK_SWEEP_BATCH = 1
    receiver.route("POST", HOOK_PATH, respond(200))
    endpoint, _ = make_endpoint()
    first, second = _emit(), _emit("ord_2")
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(hours=100))
    _restart(how, endpoint, [first.pk, second.pk])

    services.deliveries_sweep()

    second.refresh_from_db()
    assert second.status != DeliveryStatus.DEAD, second.last_error
    # The limit still holds, counted from the restart.
    services.deliveries_sweep(now=timezone.now() + timedelta(hours=97))
    second.refresh_from_db()
    assert second.status == DeliveryStatus.DEAD
    assert "Not delivered within 96 hours" in second.last_error


def _claim_held(delivery_id: int, claimed: threading.Event, go: threading.Event):
    # A worker's claim, its transaction held open until ``go``.
    try:
        with transaction.atomic():
            WebhookDelivery.objects.filter(pk=delivery_id).update(
                status=DeliveryStatus.DELIVERING, claimed_at=timezone.now()
            )
            claimed.set()
            go.wait(10)
    finally:
        connection.close()


def _swept(failures: list[BaseException]) -> None:
    try:
        services.deliveries_sweep()
    except BaseException as exc:  # reported by the test
        failures.append(exc)
    finally:
        connection.close()


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks")
@pytest.mark.django_db(transaction=True)
def test_the_age_limit_leaves_a_row_a_worker_claimed_meanwhile(
    make_endpoint, no_enqueue
) -> None:
    # The sweep's UPDATE waits on the row a worker is claiming; once the claim
    # commits, the row is no longer waiting and must not be ended mid-POST.
    endpoint, _ = make_endpoint()
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="payment.captured",
        body="{}",
        created_at=timezone.now() - timedelta(hours=100),
    )
    claimed, go = threading.Event(), threading.Event()
    worker = threading.Thread(target=_claim_held, args=(delivery.pk, claimed, go))
    worker.start()
    assert claimed.wait(10)
    failures: list[BaseException] = []
    sweep = threading.Thread(target=_swept, args=(failures,))
    sweep.start()
    waited = False
    for _ in range(100):  # until the sweep waits on the worker's row lock
        if _lock_waiters():
            waited = True
            break
        time.sleep(0.05)
    go.set()
    worker.join(10)
    sweep.join(10)

    assert waited, "the sweep never waited on the claimed row"
    assert not sweep.is_alive() and not failures, failures
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERING, delivery.last_error


def _backlog(endpoint, count: int, *, at, status=DeliveryStatus.PENDING) -> None:
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint,
            event_type="payment.captured",
            body="{}",
            status=status,
            next_attempt_at=at,
            created_at=at,
        )
        for _ in range(count)
    )


def _rows_read() -> int:
    # This transaction's reads of the delivery table, by any scan.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
            "FROM pg_stat_xact_user_tables WHERE relname = %s",
            [TABLE],
        )
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL stats")
def test_the_sweep_does_not_read_paused_or_disabled_backlogs(
    make_endpoint, no_enqueue
) -> None:
    waiting = 10000
    paused, _ = make_endpoint()
    disabled, _ = make_endpoint()
    live, _ = make_endpoint()
    now = timezone.now()
    _backlog(paused, waiting, at=now - timedelta(hours=1))
    _backlog(disabled, waiting, at=now - timedelta(hours=200))
    _backlog(live, 5, at=now, status=DeliveryStatus.FAILED)
    breaker_mode_set(account=paused.account, mode=BreakerMode.FORCED_OPEN)
    services.endpoint_disable(endpoint=disabled, reason="gone")
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{TABLE}"')  # as autovacuum would have
    before = _rows_read()

    assert services.deliveries_sweep(now=now) == 5

    # Each minute: the 5 due rows, not the 20 000 that wait for staff.
    assert _rows_read() - before < waiting // 10
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.DEAD).count() == 0


def test_a_claim_within_its_lease_is_not_taken_back_whatever_the_clocks(
    two_machines, settings, receiver, make_endpoint, monkeypatch, no_enqueue
) -> None:
    """The worker's machine is 5 s behind the sweeper's: a row it claimed a
    moment ago is within its 3 s lease, not a lost worker's."""
    settings.STOREFRONT_WEBHOOK_LEASE_SECONDS = 3
    receiver.route("POST", HOOK_PATH, respond(200))
    make_endpoint()
    row = _emit()
    seen: list[str] = []
    post = deliveries.delivery_post

    def post_while_swept(endpoint, delivery, *, timestamp):
        with machine_clock(0):
            services.deliveries_sweep()
        seen.append(WebhookDelivery.objects.get(pk=delivery.pk).status)
        return post(endpoint, delivery, timestamp=timestamp)

    monkeypatch.setattr(deliveries, "delivery_post", post_while_swept)
    with machine_clock(-5):
        assert services.delivery_send(delivery_id=row.pk) == "delivered"

    assert seen == [DeliveryStatus.DELIVERING]
    row.refresh_from_db()
    assert row.attempts == 1 and row.last_error == ""
