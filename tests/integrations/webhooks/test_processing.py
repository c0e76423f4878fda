"""Processing, retries with backoff, giving up, the sweeper and claims, driven
with an explicit clock."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import task_batcher
from integrations.models import Event, WebhookEvent, WebhookStatus
from integrations.webhooks import tasks
from integrations.webhooks.services import (
    webhook_event_process,
    webhook_events_replay,
    webhook_events_sweep,
)
from tests.factories import WebhookEventFactory
from tests.integrations.webhooks import handlers
from tests.integrations.webhooks.conftest import HANDLERS

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing(settings):
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {"payments": {"*": f"{HANDLERS}.fail"}}


@pytest.fixture
def enqueued(monkeypatch):
    """The broker: records what is enqueued instead of running it."""
    sent: list[int] = []
    monkeypatch.setattr(
        task_batcher,
        "async_task",
        lambda func, items, *a, **k: sent.extend(item[0] for item in items),
    )
    return sent


def _row(event: WebhookEvent) -> WebhookEvent:
    event.refresh_from_db()
    return event


def test_failure_is_kept_and_retried_with_backoff_then_dead(account, failing):
    event = WebhookEventFactory(account=account)
    t0 = timezone.now()

    assert webhook_event_process(event_id=event.pk, now=t0) == WebhookStatus.FAILED
    row = _row(event)
    assert (row.status, row.attempts) == (WebhookStatus.FAILED, 1)
    assert row.last_error == "RuntimeError: downstream unavailable"
    assert row.next_attempt_at == t0 + timedelta(seconds=30)

    t1 = t0 + timedelta(seconds=31)
    assert webhook_event_process(event_id=event.pk, now=t1) == WebhookStatus.FAILED
    assert _row(event).next_attempt_at == t1 + timedelta(seconds=60)

    t2 = t1 + timedelta(seconds=61)
    assert webhook_event_process(event_id=event.pk, now=t2) == WebhookStatus.DEAD
    row = _row(event)
    assert (row.status, row.attempts, row.next_attempt_at) == (
        WebhookStatus.DEAD,
        3,
        None,
    )
    assert [attempts for _, _, attempts in handlers.calls] == [1, 2, 3]
    # Dead is final: nothing processes it again on its own.
    assert webhook_event_process(event_id=event.pk, now=t2) is None
    assert webhook_events_sweep(now=t2 + timedelta(days=1)) == 0


def test_backoff_is_capped(account, failing, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 20
    settings.WEBHOOK_RETRY_MAX_SECONDS = 100
    event = WebhookEventFactory(account=account)
    now = timezone.now()
    for _ in range(6):
        webhook_event_process(event_id=event.pk, now=now)
    assert _row(event).next_attempt_at == now + timedelta(seconds=100)


def test_sweeper_retries_only_when_due(account, failing, enqueued):
    event = WebhookEventFactory(account=account)
    t0 = timezone.now()
    webhook_event_process(event_id=event.pk, now=t0)
    assert webhook_events_sweep(now=t0 + timedelta(seconds=29)) == 0
    assert webhook_events_sweep(now=t0 + timedelta(seconds=30)) == 1
    assert enqueued == [event.pk]


def test_retries_through_sweeper_and_task_end_dead(account, failing):
    # The whole loop with the sync broker: sweep -> task -> handler -> failed.
    event = WebhookEventFactory(account=account)
    tasks.process_webhook_event(event.pk)
    later = timezone.now()
    for _ in range(5):
        later += timedelta(hours=2)
        webhook_events_sweep(now=later)
    row = _row(event)
    assert (row.status, row.attempts) == (WebhookStatus.DEAD, 3)
    assert len(handlers.calls) == 3


def test_sweeper_reenqueues_rows_the_broker_dropped(account, enqueued, settings):
    settings.WEBHOOK_SWEEP_AFTER_MINUTES = 5
    now = timezone.now()
    stuck = WebhookEventFactory(account=account, received_at=now - timedelta(minutes=6))
    WebhookEventFactory(account=account, received_at=now - timedelta(minutes=1))
    WebhookEventFactory(
        account=account,
        received_at=now - timedelta(hours=1),
        status=WebhookStatus.PROCESSED,
    )
    assert webhook_events_sweep(now=now) == 1
    assert enqueued == [stuck.pk]


def test_swept_row_is_processed_once_even_if_enqueued_twice(account):
    event = WebhookEventFactory(
        account=account, received_at=timezone.now() - timedelta(hours=1)
    )
    assert webhook_events_sweep() == 1  # sync broker: runs the task now
    tasks.process_webhook_event(event.pk)  # the original task turns up late
    assert len(handlers.calls) == 1
    assert _row(event).status == WebhookStatus.PROCESSED


def test_claim_of_a_dead_worker_is_taken_back(account, settings, enqueued):
    settings.WEBHOOK_PROCESSING_LEASE_SECONDS = 600
    now = timezone.now()
    event = WebhookEventFactory(
        account=account,
        status=WebhookStatus.PROCESSING,
        attempts=1,
        claimed_at=now - timedelta(seconds=601),
    )
    live = WebhookEventFactory(
        account=account,
        status=WebhookStatus.PROCESSING,
        attempts=1,
        claimed_at=now - timedelta(seconds=10),
    )
    assert webhook_events_sweep(now=now) == 1
    assert enqueued == [event.pk]
    assert _row(event).status == WebhookStatus.FAILED
    assert "worker lost" in _row(event).last_error
    assert _row(live).status == WebhookStatus.PROCESSING


def test_expired_claim_on_last_attempt_goes_dead(account, enqueued):
    now = timezone.now()
    event = WebhookEventFactory(
        account=account,
        status=WebhookStatus.PROCESSING,
        attempts=3,
        claimed_at=now - timedelta(hours=1),
    )
    assert webhook_events_sweep(now=now) == 0
    assert _row(event).status == WebhookStatus.DEAD


def test_worker_that_lost_its_claim_rolls_back(account, settings):
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {
        "payments": {"*": f"{HANDLERS}.emit_and_lose_claim"}
    }
    event = WebhookEventFactory(account=account)
    assert webhook_event_process(event_id=event.pk) is None
    assert Event.objects.count() == 0  # the handler's write was rolled back
    assert _row(event).status == WebhookStatus.PROCESSING  # the new owner's


def test_failing_handler_writes_are_rolled_back(account, settings):
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {
        "payments": {"*": f"{HANDLERS}.emit_then_fail"}
    }
    event = WebhookEventFactory(account=account)
    assert webhook_event_process(event_id=event.pk) == WebhookStatus.FAILED
    assert Event.objects.count() == 0


def test_bad_handler_path_is_a_kept_failure(account, settings):
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {"payments": {"*": "nowhere.handler"}}
    event = WebhookEventFactory(account=account)
    assert webhook_event_process(event_id=event.pk) == WebhookStatus.FAILED
    assert "No module named" in _row(event).last_error


def test_handler_gets_the_row_with_order_information(account, settings):
    seen = []
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {"payments": {"*": f"{HANDLERS}.record"}}
    now = timezone.now()
    first = WebhookEventFactory(account=account, received_at=now)
    second = WebhookEventFactory(account=account, received_at=now + timedelta(1))
    for event in (second, first):  # processed out of order
        webhook_event_process(event_id=event.pk)
        seen.append(WebhookEvent.objects.get(pk=event.pk))
    assert [pk for pk, _, _ in handlers.calls] == [second.pk, first.pk]
    assert seen[0].received_at > seen[1].received_at and seen[0].pk > seen[1].pk


def test_handler_lookup_exact_then_longest_prefix_then_star(account, settings):
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {
        "payments": {
            "payment.succeeded": "exact",
            "payment.*": "prefix",
            "payment.refund.*": "longer",
            "*": "star",
        }
    }
    from integrations.registry import get_adapter

    adapter = get_adapter(account)
    assert adapter.webhook_handler("payment.succeeded") == "exact"
    assert adapter.webhook_handler("payment.refund.created") == "longer"
    assert adapter.webhook_handler("payment.failed") == "prefix"
    assert adapter.webhook_handler("dispute.opened") == "star"
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {}
    assert adapter.webhook_handler("payment.succeeded") is None


def test_replay_runs_the_handler_again_with_fresh_attempts(
    account, django_capture_on_commit_callbacks
):
    event = WebhookEventFactory(account=account)
    webhook_event_process(event_id=event.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_events_replay(event_ids=[event.pk]) == 1
    assert [attempts for _, _, attempts in handlers.calls] == [1, 1]
    assert _row(event).status == WebhookStatus.PROCESSED


def test_replay_skips_a_row_being_processed(account, enqueued):
    event = WebhookEventFactory(account=account, status=WebhookStatus.PROCESSING)
    assert webhook_events_replay(event_ids=[event.pk]) == 0
    assert _row(event).status == WebhookStatus.PROCESSING


def test_enqueue_failure_leaves_the_row_for_the_sweeper(
    account, monkeypatch, post_webhook, django_capture_on_commit_callbacks
):
    from tests.integrations.webhooks.conftest import make_body, sw_headers

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(task_batcher, "async_task", broker_down)
    body = make_body()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook("sbx-pay", body, sw_headers(body))
    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == WebhookStatus.RECEIVED


def test_a_handlers_look_up_runs_before_its_transaction_and_is_kept(account, settings):
    # ``prepare`` (a call to the provider) is outside the handler's
    # transaction: its record survives the handler's failure, and no row lock
    # the handler takes waits on the call.
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {
        "payments": {"*": f"{HANDLERS}.fail_after_look_up"}
    }
    event = WebhookEventFactory(account=account)
    assert webhook_event_process(event_id=event.pk) == WebhookStatus.FAILED
    assert list(Event.objects.values_list("name", flat=True)) == ["test.looked_up"]
