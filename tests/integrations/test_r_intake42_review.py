"""r-intake42 (review of intake42's recovery of unusable bodies): what an
outside read found, each proven through the admin or the intake."""

import json

import pytest

from integrations.models import WebhookEvent, WebhookStatus
from tests.factories import ProviderAccountFactory
from tests.integrations.intake42_helpers import post, replay, standard

pytestmark = pytest.mark.django_db

# A provider's own event whose type is the reserved one: the type is the
# body's (Shippo's, TradeGecko's, the sandboxes'), not ours.
RESERVED = json.dumps({"type": "(unusable body)", "data": {}}).encode()


@pytest.fixture
def account():
    return ProviderAccountFactory(slug="sbx-pay")


def test_a_real_event_that_failed_processing_is_replayed_not_marked_recovered(
    account, staff, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    calls = []

    def handler_down(event):
        calls.append(event.pk)
        raise RuntimeError("handler down")

    with monkeypatch.context() as patch:
        patch.setattr("payments.webhooks.payment_webhook_handle", handler_down)
        with django_capture_on_commit_callbacks(execute=True):
            post(account, RESERVED, **standard(RESERVED, "msg_9"))
    row = WebhookEvent.objects.get(account=account, dedupe_key="msg_9")
    assert (row.status, row.attempts, len(calls)) == (WebhookStatus.DEAD, 1, 1)

    # The handler is fixed; staff replay the dead event.
    with django_capture_on_commit_callbacks(execute=True):
        text = replay(staff, row)

    row.refresh_from_db()
    assert "Recovered by replay" not in text
    assert "Recovered by replay" not in row.note
    # Processed again by its handler, not buried as "a duplicate of itself".
    assert (row.status, row.attempts) == (WebhookStatus.PROCESSED, 1)
    assert "1 webhook event(s) queued for replay." in text


def _stored_days_ago(account, body: bytes, headers: dict, days: int) -> int:
    """Stored dead as an unusable body (a parser bug) ``days`` ago."""
    from datetime import timedelta

    from django.utils import timezone

    from integrations.webhooks.unusable import webhook_unusable_store
    from integrations.webhooks.verification import UnusableWebhook

    row_id, _ = webhook_unusable_store(
        account=account,
        body=body,
        headers=headers,
        error=UnusableWebhook("a parser bug", code="malformed_request"),
    )
    received = timezone.now() - timedelta(days=days)
    WebhookEvent.objects.filter(pk=row_id).update(received_at=received)
    return row_id


def test_an_undated_stop_recovered_days_later_is_dated_when_it_was_received():
    # A bounce with no readable time of its own is dated on receipt (so it
    # stops its address at once). Recovered days later, it was still received
    # then: dated at the replay it would outrank a reactivation made since.
    from integrations.webhooks import recovery
    from tests.notifications.contract import harness_postmark

    account = harness_postmark.make_account()
    payload = harness_postmark.event("bounce_hard")
    payload.pop("BouncedAt", None)
    hook = harness_postmark.posted(payload)
    row_id = _stored_days_ago(account, hook.body, hook.headers, days=3)
    received_at = WebhookEvent.objects.get(pk=row_id).received_at

    result = recovery.webhook_unusable_recover(event_id=row_id)

    assert result.outcome == recovery.RECOVERED, result.text
    [event] = WebhookEvent.objects.filter(pk__in=result.stored)
    assert event.occurred_at == received_at


@pytest.mark.django_db(transaction=True)
def test_a_body_verified_by_an_account_changed_elsewhere_keeps_who_received_it(
    settings,
):
    # Another process (the admin elsewhere) moved the account from SMTP to
    # the sandbox: this process's cached copy still says SMTP, fails, is read
    # again, and the sandbox verifies the request. The row must name the
    # provider that verified it, or its replay is refused for good.
    from integrations.models import ProviderAccount
    from integrations.webhooks import accounts, recovery
    from tests.integrations.intake42_helpers import broken_reader, stored_dead

    settings.WEBHOOK_ACCOUNT_CACHE_SECONDS = 60
    accounts.clear()
    try:
        account = ProviderAccountFactory(slug="moved", kind="email", provider="smtp")
        body = json.dumps({"type": "email.delivered", "data": {}}).encode()
        assert post(account, body, **standard(body)).status_code == 404  # cached
        ProviderAccount.objects.filter(pk=account.pk).update(provider="sandbox")
        account.refresh_from_db()
        with broken_reader(account):
            assert post(account, body, **standard(body)).status_code == 200
        row = stored_dead(account)

        result = recovery.webhook_unusable_recover(event_id=row.pk)

        assert result.outcome == recovery.RECOVERED, result.text
    finally:
        accounts.clear()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_live_retry_arriving_while_staff_recover_is_stored_and_processed_once(
    monkeypatch,
):
    # Sound as written (the intake's ON CONFLICT store): kept as a guard.
    import threading
    import time

    from django.db import connections

    from integrations.webhooks import recovery
    from tests.integrations.intake42_helpers import broken_reader, stored_dead

    account = ProviderAccountFactory(slug="sbx-race")
    body = json.dumps({"type": "refund.updated", "data": {}}).encode()
    with broken_reader(account):
        post(account, body, **standard(body, "msg_r"))
    row = stored_dead(account)
    resolved = recovery._resolved
    inserted = threading.Event()

    def slow_resolved(*args, **kwargs):
        inserted.set()  # the event row is inserted, not yet committed
        time.sleep(0.5)
        return resolved(*args, **kwargs)

    monkeypatch.setattr(recovery, "_resolved", slow_resolved)
    results: dict[str, object] = {}

    def recover() -> None:
        try:
            results["recovery"] = recovery.webhook_unusable_recover(event_id=row.pk)
        finally:
            connections.close_all()

    def retry() -> None:
        try:
            inserted.wait(10)
            results["live"] = post(account, body, **standard(body, "msg_r")).json()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=recover), threading.Thread(target=retry)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert results["recovery"].outcome == recovery.RECOVERED
    assert results["live"] == {"received": True, "duplicate": True}
    [event] = WebhookEvent.objects.filter(account=account, dedupe_key="msg_r")
    assert event.attempts == 1
