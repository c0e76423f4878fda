"""What counts as an attempt: a delivery the endpoint's breaker (or our own
limiter) held back was never sent, so it uses none of the row's attempts and
waits for the breaker; one whose worker died mid-POST may have been sent, so
it counts for the row and for the endpoint's failing streak."""

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone
from django_q.models import Schedule

from integrations.breaker import breaker_for, breaker_mode_set
from integrations.events import event_emit
from integrations.models import DeliveryStatus
from integrations.models.accounts import BreakerMode
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services import deliveries, sweep
from storefront_hooks.services.rows import rows
from tests.storefront_hooks.conftest import HOOK_PATH, machine_clock

pytestmark = pytest.mark.django_db

THROTTLED = respond(503, headers={"Retry-After": "600"})


def _emit(order_id: str = "ord_1") -> WebhookDelivery:
    event = event_emit(name="payment.captured", payload={"order_id": order_id})
    services.event_fan_out(event)
    return WebhookDelivery.objects.get(event=event)


def _sent(receiver, delivery: WebhookDelivery) -> int:
    found = receiver.requests_for("POST", HOOK_PATH)
    return sum(1 for r in found if r.header("webhook-id") == delivery.public_id)


def _wait(delivery: WebhookDelivery, now) -> float:
    delivery.refresh_from_db()
    return (delivery.next_attempt_at - now).total_seconds()


@pytest.fixture
def no_enqueue(monkeypatch) -> list[int]:
    """The sweep's enqueues, recorded instead of run inline."""
    queued: list[int] = []
    monkeypatch.setattr(sweep, "enqueue", queued.append)
    return queued


def test_a_delivery_held_back_by_an_open_breaker_is_not_an_attempt(
    settings, receiver, make_endpoint
) -> None:
    settings.BREAKER_CONSECUTIVE_FAILURES = 1
    settings.STOREFRONT_WEBHOOK_MAX_ATTEMPTS = 2
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, THROTTLED, respond(500))
    first, second = _emit(), _emit("ord_2")
    now = timezone.now()
    # A 503 with Retry-After 600 opens the breaker for ten minutes.
    assert services.delivery_send(delivery_id=first.pk, now=now) == "failed"

    # A new row meets the open breaker: not sent, not counted, due again
    # when the breaker may let a call through (not at the 5 s step).
    assert services.delivery_send(delivery_id=second.pk, now=now) == "pending"
    second.refresh_from_db()
    assert second.attempts == 0 and second.last_attempt_at is None
    assert 590 <= _wait(second, now) <= 600 * 1.2 + 1
    # The 503's Retry-After holds the endpoint's rows before the breaker is
    # asked (hooks40): the row names that wait.
    assert "Retry-After" in second.last_error
    # Due within the scheduled-retry bound: it has its own schedule.
    assert Schedule.objects.filter(next_run=second.next_attempt_at).exists()

    # The first row's early retries meet the breaker too: none is used up,
    # so it cannot die (2 attempts here) before the endpoint is reached again.
    for minutes in (0.1, 5, 30):
        at = now + timedelta(minutes=minutes)
        # Due then (a task finds a row not yet due and leaves it).
        WebhookDelivery.objects.filter(pk=first.pk).update(next_attempt_at=at)
        assert services.delivery_send(delivery_id=first.pk, now=at) == "failed"
        first.refresh_from_db()
        assert first.attempts == 1
        # Not before the 503's wait ends (held for it, hooks40), nor within
        # ten minutes of meeting the breaker past it.
        assert first.next_attempt_at >= now + timedelta(seconds=600)
        assert _wait(first, at) >= 590 or at < now + timedelta(seconds=600)
        if at > now + timedelta(seconds=600 * 1.2):
            # Past the hold, the breaker (real clock, still open) refuses it.
            assert "breaker" in first.last_error
    assert _sent(receiver, first) == 1
    endpoint.refresh_from_db()
    assert endpoint.failing_since == now  # held-back rows are not failures

    # Once a call goes through, the row dies only after its second send.
    breaker_mode_set(account=endpoint.account, mode=BreakerMode.FORCED_CLOSED)
    later = now + timedelta(hours=1)
    assert services.delivery_send(delivery_id=first.pk, now=later) == "dead"
    assert _sent(receiver, first) == 2


def test_a_delivery_held_back_while_another_worker_probes_waits_for_the_probe(
    settings, receiver, make_endpoint
) -> None:
    settings.BREAKER_CONSECUTIVE_FAILURES = 1
    settings.BREAKER_OPEN_SECONDS = 0.001
    settings.BREAKER_PROBE_TIMEOUT_SECONDS = 60.0
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500), respond(200))
    first, second = _emit(), _emit("ord_2")
    now = timezone.now()
    assert services.delivery_send(delivery_id=first.pk, now=now) == "failed"
    # Open time over: another worker takes the one half-open probe.
    breaker_for(endpoint.account).before_call()

    assert services.delivery_send(delivery_id=second.pk, now=now) == "pending"
    second.refresh_from_db()
    assert second.attempts == 0
    assert 1 <= _wait(second, now) <= 60 * 1.2 + 1
    assert _sent(receiver, second) == 0


def test_an_attempt_whose_worker_died_counts_for_the_row_and_the_endpoint(
    receiver, make_endpoint, no_enqueue
) -> None:
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    delivery = _emit()
    start = timezone.now()
    # A worker claims the row (and may have POSTed it), then is killed.
    assert rows.claim(delivery.pk, start)
    expired = start + timedelta(seconds=121)
    services.deliveries_sweep(now=expired)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert "worker lost" in delivery.last_error
    assert delivery.last_attempt_at == start
    # A failed attempt like any other, made at the claim: its retry is a
    # step (5 s) after it, so due at once and enqueued by this sweep.
    assert 4 <= _wait(delivery, start) <= 6
    assert no_enqueue == [delivery.pk]
    endpoint.refresh_from_db()
    assert endpoint.failing_since == start

    # An endpoint that reliably kills workers is disabled like one that fails.
    again = start + timedelta(hours=61)
    assert rows.claim(delivery.pk, again)
    services.deliveries_sweep(now=again + timedelta(seconds=121))
    # The second step (5 min): not sent again at once, worker after worker.
    assert 240 <= _wait(delivery, again) <= 360
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "failed for 60 hours" in endpoint.disabled_reason
    assert "worker_lost" in endpoint.disabled_reason
    assert _sent(receiver, delivery) == 0


def test_a_lost_last_attempt_is_dead_and_still_counts_for_the_endpoint(
    settings, receiver, make_endpoint, no_enqueue
) -> None:
    settings.STOREFRONT_WEBHOOK_MAX_ATTEMPTS = 1
    endpoint, _ = make_endpoint()
    delivery = _emit()
    start = timezone.now()
    assert rows.claim(delivery.pk, start)
    services.deliveries_sweep(now=start + timedelta(seconds=121))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.next_attempt_at is None
    endpoint.refresh_from_db()
    assert endpoint.failing_since == start
    assert no_enqueue == []


def _paused(receiver, make_endpoint, now) -> WebhookDelivery:
    """A delivery met by the endpoint's breaker that staff forced open."""
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    delivery = _emit()
    breaker_mode_set(
        account=endpoint.account, mode=BreakerMode.FORCED_OPEN, actor="ops"
    )
    assert services.delivery_send(delivery_id=delivery.pk, now=now) == "pending"
    delivery.refresh_from_db()
    return delivery


def test_a_breaker_forced_open_pauses_deliveries_until_it_is_released(
    settings, receiver, make_endpoint, no_enqueue
) -> None:
    now = timezone.now()
    delivery = _paused(receiver, make_endpoint, now)
    # Not an attempt; paused with its reason, not spinning on a schedule.
    assert delivery.attempts == 0 and _sent(receiver, delivery) == 0
    assert "Paused" in delivery.last_error
    assert "forced open by staff" in delivery.last_error
    assert not Schedule.objects.exists()
    # Past the broker's grace period and hours later: no sweep sends it.
    for minutes in (3, 10, 60, 600):
        at = now + timedelta(minutes=minutes)
        assert services.deliveries_sweep(now=at) == 0
    assert no_enqueue == []

    # Released: the next sweep sends what waited.
    endpoint = delivery.endpoint
    breaker_mode_set(account=endpoint.account, mode=BreakerMode.AUTO, actor="ops")
    assert services.deliveries_sweep(now=now + timedelta(minutes=601)) == 1
    assert no_enqueue == [delivery.pk]


def test_a_paused_delivery_still_ends_at_the_age_limit(
    settings, receiver, make_endpoint, no_enqueue
) -> None:
    settings.STOREFRONT_WEBHOOK_MAX_AGE_HOURS = 96
    now = timezone.now()
    delivery = _paused(receiver, make_endpoint, now)
    assert services.deliveries_sweep(now=now + timedelta(hours=95)) == 0
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING

    assert services.deliveries_sweep(now=now + timedelta(hours=97)) == 0
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.next_attempt_at is None
    assert "Not delivered within 96 hours" in delivery.last_error
    assert "forced open by staff" in delivery.last_error  # why it waited
    assert no_enqueue == []


def test_a_paused_row_is_sent_by_the_first_sweep_after_release(
    receiver, make_endpoint, no_enqueue
) -> None:
    # Within a minute of the release, though the row is younger than the
    # broker's grace period for pending rows.
    now = timezone.now()
    delivery = _paused(receiver, make_endpoint, now)
    account = delivery.endpoint.account
    breaker_mode_set(account=account, mode=BreakerMode.AUTO, actor="ops")

    assert services.deliveries_sweep(now=now + timedelta(seconds=60)) == 1
    assert no_enqueue == [delivery.pk]


def test_an_endpoint_is_not_disabled_at_its_first_failure_after_a_long_pause(
    receiver, make_endpoint, no_enqueue
) -> None:
    # Failing for an hour, then three days paused by staff, then released.
    now = timezone.now()
    delivery = _paused(receiver, make_endpoint, now)
    endpoint = delivery.endpoint
    type(endpoint).objects.filter(pk=endpoint.pk).update(
        failing_since=now - timedelta(hours=1)
    )
    receiver.route("POST", HOOK_PATH, respond(500))
    released = now + timedelta(hours=72)
    breaker_mode_set(account=endpoint.account, mode=BreakerMode.AUTO, actor="ops")
    assert services.deliveries_sweep(now=released) == 1
    # Its first real attempt in three days fails (a 500 while warming up).
    assert services.delivery_send(delivery_id=delivery.pk, now=released) == "failed"

    endpoint.refresh_from_db()
    assert endpoint.enabled, endpoint.disabled_reason
    # The streak skips the pause: an hour of failing before it.
    assert endpoint.failing_since == released - timedelta(hours=1)
    assert endpoint.paused_since is None


def test_a_pause_moves_the_streak_on_by_its_span_whatever_the_clocks(
    two_machines, receiver, make_endpoint, no_enqueue
) -> None:
    """A worker whose machine is 5 s behind notes the pause; the sweeper
    notes its end a moment later: the failing streak moves on by that
    moment, not by the machines' 5 s as well."""
    with machine_clock(-5):
        delivery = _paused(receiver, make_endpoint, None)
    endpoint = delivery.endpoint
    since = timezone.now() - timedelta(hours=1)
    type(endpoint).objects.filter(pk=endpoint.pk).update(failing_since=since)
    breaker_mode_set(account=endpoint.account, mode=BreakerMode.AUTO, actor="ops")

    services.deliveries_sweep()

    endpoint.refresh_from_db()
    assert endpoint.paused_since is None
    assert endpoint.failing_since - since < timedelta(seconds=2)


def test_a_pause_ends_at_the_first_call_after_release_without_a_sweep(
    receiver, make_endpoint, no_enqueue
) -> None:
    now = timezone.now()
    delivery = _paused(receiver, make_endpoint, now)
    endpoint = delivery.endpoint
    type(endpoint).objects.filter(pk=endpoint.pk).update(
        failing_since=now - timedelta(hours=1)
    )
    receiver.route("POST", HOOK_PATH, respond(500))
    released = now + timedelta(hours=72)
    breaker_mode_set(account=endpoint.account, mode=BreakerMode.AUTO, actor="ops")
    assert services.delivery_send(delivery_id=delivery.pk, now=released) == "failed"

    endpoint.refresh_from_db()
    assert endpoint.enabled, endpoint.disabled_reason
    assert endpoint.failing_since == released - timedelta(hours=1)


def test_the_sweep_ending_the_pause_during_the_first_call_does_not_disable(
    receiver, make_endpoint, no_enqueue, monkeypatch
) -> None:
    # Failing for an hour, then three days paused by staff, then released.
    # The first call after release is in flight (a slow, failing endpoint)
    # when the minute's sweep notices the release and ends the pause.
    now = timezone.now()
    delivery = _paused(receiver, make_endpoint, now)
    endpoint = delivery.endpoint
    type(endpoint).objects.filter(pk=endpoint.pk).update(
        failing_since=now - timedelta(hours=1)
    )
    receiver.route("POST", HOOK_PATH, respond(500))
    released = now + timedelta(hours=72)
    breaker_mode_set(account=endpoint.account, mode=BreakerMode.AUTO, actor="ops")
    real_post = deliveries.delivery_post

    def post_while_the_sweep_runs(*args, **kwargs):
        services.deliveries_sweep(now=released)  # the sweep's minute
        return real_post(*args, **kwargs)

    monkeypatch.setattr(deliveries, "delivery_post", post_while_the_sweep_runs)
    assert services.delivery_send(delivery_id=delivery.pk, now=released) == "failed"

    endpoint.refresh_from_db()
    assert endpoint.enabled, endpoint.disabled_reason
    assert endpoint.failing_since == released - timedelta(hours=1)


def _pause_end_fails(monkeypatch) -> None:
    def pause_end(*args, **kwargs):
        raise OperationalError("canceling statement due to lock timeout")

    monkeypatch.setattr(deliveries, "endpoint_pause_end", pause_end)


def test_a_call_after_release_is_settled_though_the_pause_end_is_not_noted(
    receiver, make_endpoint, no_enqueue, monkeypatch
) -> None:
    now = timezone.now()
    delivery = _paused(receiver, make_endpoint, now)
    endpoint = delivery.endpoint
    breaker_mode_set(account=endpoint.account, mode=BreakerMode.AUTO, actor="ops")
    real_pause_end = deliveries.endpoint_pause_end
    _pause_end_fails(monkeypatch)
    released = now + timedelta(hours=1)

    assert services.delivery_send(delivery_id=delivery.pk, now=released) == (
        DeliveryStatus.DELIVERED
    )
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert not Schedule.objects.exists()
    # The next sweep notes the end, and sends nothing again.
    monkeypatch.setattr(deliveries, "endpoint_pause_end", real_pause_end)
    assert services.deliveries_sweep(now=released + timedelta(minutes=1)) == 0
    endpoint.refresh_from_db()
    assert endpoint.paused_since is None
    assert _sent(receiver, delivery) == 1 and no_enqueue == []


def test_a_failure_while_the_pause_end_is_not_noted_does_not_disable(
    receiver, make_endpoint, no_enqueue, monkeypatch
) -> None:
    # Failing for an hour before three days of pause: the pause is not the
    # endpoint's, though its end could not be noted at the first call.
    now = timezone.now()
    delivery = _paused(receiver, make_endpoint, now)
    endpoint = delivery.endpoint
    type(endpoint).objects.filter(pk=endpoint.pk).update(
        failing_since=now - timedelta(hours=1)
    )
    receiver.route("POST", HOOK_PATH, respond(500))
    breaker_mode_set(account=endpoint.account, mode=BreakerMode.AUTO, actor="ops")
    _pause_end_fails(monkeypatch)
    released = now + timedelta(hours=72)

    assert services.delivery_send(delivery_id=delivery.pk, now=released) == "failed"
    endpoint.refresh_from_db()
    assert endpoint.enabled, endpoint.disabled_reason


def test_a_failure_after_another_workers_success_starts_a_new_streak(
    receiver, make_endpoint, no_enqueue, monkeypatch
) -> None:
    # This worker loaded the endpoint failing for 61 hours; while its call
    # was in flight another delivery got through, ending that streak.
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500))
    delivery = _emit()
    now = timezone.now()
    type(endpoint).objects.filter(pk=endpoint.pk).update(
        failing_since=now - timedelta(hours=61)
    )
    real_post = deliveries.delivery_post

    def post_while_another_succeeds(*args, **kwargs):
        type(endpoint).objects.filter(pk=endpoint.pk).update(failing_since=None)
        return real_post(*args, **kwargs)

    monkeypatch.setattr(deliveries, "delivery_post", post_while_another_succeeds)
    assert services.delivery_send(delivery_id=delivery.pk, now=now) == "failed"

    endpoint.refresh_from_db()
    assert endpoint.enabled, endpoint.disabled_reason
    assert endpoint.failing_since == now


def test_a_delivery_is_paused_by_the_mode_the_breaker_applies(
    receiver, make_endpoint, no_enqueue
) -> None:
    # Staff released the breaker but publishing the mode failed: the breaker
    # still refuses as forced open, so the row is paused, not spun on a
    # one-minute schedule as an ordinary hold-back.
    now = timezone.now()
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    delivery = _emit()
    breaker_mode_set(account=endpoint.account, mode=BreakerMode.FORCED_OPEN)
    type(endpoint.account).objects.filter(pk=endpoint.account_id).update(
        breaker_mode=BreakerMode.AUTO
    )

    assert services.delivery_send(delivery_id=delivery.pk, now=now) == "pending"
    delivery.refresh_from_db()
    assert "Paused since" in delivery.last_error
    assert not Schedule.objects.exists()


def test_the_sweep_leaves_a_held_back_row_until_it_is_due(
    settings, receiver, make_endpoint, no_enqueue
) -> None:
    settings.BREAKER_CONSECUTIVE_FAILURES = 1
    make_endpoint()
    receiver.route("POST", HOOK_PATH, THROTTLED)
    first, delivery = _emit(), _emit("ord_2")
    now = timezone.now()
    assert services.delivery_send(delivery_id=first.pk, now=now) == "failed"
    # The breaker opened for the Retry-After: held back until then.
    assert services.delivery_send(delivery_id=delivery.pk, now=now) == "pending"
    assert _wait(delivery, now) >= 590
    # Past the broker's grace period, yet not due: left alone.
    grace = now + timedelta(minutes=settings.STOREFRONT_WEBHOOK_SWEEP_AFTER_MINUTES)
    delivery.created_at = grace - timedelta(minutes=10)
    delivery.save(update_fields=["created_at"])
    services.deliveries_sweep(now=now + timedelta(seconds=30))
    assert delivery.pk not in no_enqueue
    services.deliveries_sweep(now=delivery.next_attempt_at)
    assert delivery.pk in no_enqueue
    assert _sent(receiver, delivery) == 0


def _undecryptable(endpoint) -> None:
    # A secret no configured key opens (a key dropped from the rotation).
    type(endpoint).objects.filter(pk=endpoint.pk).update(secrets_encrypted="gAAAAxx")


def _database_down(monkeypatch) -> None:
    def settle(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(deliveries, "_settle", settle)


@pytest.mark.parametrize("fault", ["decryption", "database"])
def test_an_error_on_our_side_is_kept_on_the_row_not_held_against_the_endpoint(
    settings, receiver, make_endpoint, no_enqueue, monkeypatch, caplog, fault
) -> None:
    settings.STOREFRONT_WEBHOOK_DISABLE_AFTER_HOURS = 1
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    delivery = _emit()
    # The endpoint has been failing for two hours: one more failure of its
    # own would disable it.
    start = timezone.now()
    type(endpoint).objects.filter(pk=endpoint.pk).update(
        failing_since=start - timedelta(hours=2)
    )
    if fault == "decryption":
        _undecryptable(endpoint)
    else:
        _database_down(monkeypatch)

    with caplog.at_level("ERROR", logger="storefront_hooks.services.deliveries"):
        status = services.delivery_send(delivery_id=delivery.pk, now=start)

    assert status == DeliveryStatus.FAILED
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.next_attempt_at is not None and delivery.next_attempt_at > start
    assert "our side" in delivery.last_error
    kept = {"decryption": "CredentialsDecryptError", "database": "OperationalError"}
    assert kept[fault] in delivery.last_error
    alerts = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in alerts] == ["webhook delivery failed on our side"]
    assert alerts[0].delivery_id == delivery.pk
    # Not the endpoint's failure: still enabled, its streak unchanged, and
    # the sweep finds no lost worker to count later.
    services.deliveries_sweep(now=start + timedelta(seconds=121))
    endpoint.refresh_from_db()
    assert endpoint.enabled
    assert endpoint.failing_since == start - timedelta(hours=2)
    delivery.refresh_from_db()
    assert "worker lost" not in delivery.last_error
