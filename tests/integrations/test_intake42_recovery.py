"""intake42: staff recover a signed body stored dead as unusable once a fix can
read it. Replay reads the stored body again through the account's adapter (no
second signature check) and stores what it yields as the intake would: the
same event-id dedupe, processed once, the dead row saying what became of it,
in the admin and its history. Still unreadable, it stays dead with the fresh
reason; a body or account it must not be read for is refused, unchanged."""

import json
import threading
import time

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connections
from django.urls import reverse

from integrations.models import WebhookEvent, WebhookStatus
from integrations.webhooks import recovery
from tests.factories import ProviderAccountFactory
from tests.integrations.intake42_helpers import (
    dead_before_the_fix,
    post,
    recovered,
    replay,
    standard,
)

pytestmark = pytest.mark.django_db

EVENT = json.dumps(
    {"type": "refund.updated", "timestamp": "2025-01-02T03:04:05Z", "data": {}}
).encode()


@pytest.fixture
def account():
    return ProviderAccountFactory(slug="sbx-pay")


def _dead_before_the_fix(account, body=EVENT, webhook_id="msg_1"):
    return dead_before_the_fix(account, body, webhook_id)


def test_replay_stores_and_processes_what_a_fix_can_read(
    account, staff, django_capture_on_commit_callbacks
):
    row = _dead_before_the_fix(account)

    with django_capture_on_commit_callbacks(execute=True):
        text = replay(staff, row)

    [event] = recovered(account)
    assert (event.event_type, event.dedupe_key) == ("refund.updated", "msg_1")
    assert event.status == WebhookStatus.PROCESSED
    assert bytes(event.raw_body) == EVENT
    assert event.correlation_id == row.correlation_id
    assert f"stored as event #{event.pk} and queued" in text
    row.refresh_from_db()
    assert row.status == WebhookStatus.PROCESSED
    assert row.note == f"Recovered by replay: stored as event #{event.pk} and queued"
    assert "parser" not in row.note
    # Linked in the admin, and audited in the row's history.
    page = staff.get(
        reverse("admin:integrations_webhookevent_change", args=[row.pk])
    ).content.decode()
    assert reverse("admin:integrations_webhookevent_change", args=[event.pk]) in page
    entry = LogEntry.objects.get(object_id=str(row.pk))
    assert "Recovered by replay" in entry.get_change_message()


def test_a_retry_already_stored_makes_it_a_duplicate_processed_once(
    account, staff, django_capture_on_commit_callbacks
):
    row = _dead_before_the_fix(account)
    # The provider's retry of the same event arrives after the fix.
    with django_capture_on_commit_callbacks(execute=True):
        post(account, EVENT, **standard(EVENT, "msg_1"))
    [event] = recovered(account)
    assert (event.status, event.attempts) == (WebhookStatus.PROCESSED, 1)

    with django_capture_on_commit_callbacks(execute=True):
        text = replay(staff, row)

    assert recovered(account) == [event]
    event.refresh_from_db()
    assert event.attempts == 1  # not processed a second time
    assert f"a duplicate of event #{event.pk} (already stored)" in text
    row.refresh_from_db()
    assert row.status == WebhookStatus.PROCESSED
    assert row.payload[recovery.RECOVERED_KEY] == {"new": [], "old": [event.pk]}


def test_a_row_recovered_is_not_read_again(account, staff):
    row = _dead_before_the_fix(account)
    replay(staff, row)
    [event] = recovered(account)

    text = replay(staff, row)

    assert recovered(account) == [event]
    assert f"stored as event #{event.pk}" in text
    # One entry per replay (hooks45): the second says nothing was read.
    entries = LogEntry.objects.filter(object_id=str(row.pk)).order_by("pk")
    assert ["Already recovered" in e.get_change_message() for e in entries] == [
        False,
        True,
    ]


def test_still_unreadable_it_stays_dead_with_the_fresh_reason(account, staff):
    body = b'{"data": {}}'
    row = _dead_before_the_fix(account, body)
    assert "has no 'type'" not in row.last_error

    text = replay(staff, row)

    row.refresh_from_db()
    assert row.status == WebhookStatus.DEAD
    assert "[malformed_request, type]" in row.last_error
    assert "has no 'type'" in row.last_error
    assert "Still unusable, left dead" in text
    assert "has no &#x27;type&#x27;" in text or "has no 'type'" in text
    assert recovered(account) == []
    assert LogEntry.objects.filter(object_id=str(row.pk)).exists()


def _refused(staff, row, account) -> str:
    before = WebhookEvent.objects.values().get(pk=row.pk)
    text = replay(staff, row)
    assert WebhookEvent.objects.values().get(pk=row.pk) == before
    assert recovered(account) == []
    assert "Not read again" in text
    return text


def test_a_disabled_account_is_refused(account, staff):
    row = _dead_before_the_fix(account)
    account.enabled = False
    account.save()
    assert "its account is disabled" in _refused(staff, row, account)


def test_an_account_now_of_another_provider_is_refused(account, staff):
    row = _dead_before_the_fix(account)
    account.provider = "stripe"
    account.save()
    assert "another kind or provider" in _refused(staff, row, account)


def test_a_body_the_intake_would_refuse_now_is_refused(account, staff, settings):
    row = _dead_before_the_fix(account)
    settings.WEBHOOK_MAX_BYTES = len(EVENT) - 1
    assert "over WEBHOOK_MAX_BYTES" in _refused(staff, row, account)


def test_a_header_the_reading_needs_that_was_not_stored_is_refused(account, staff):
    row = _dead_before_the_fix(account)
    headers = {k: v for k, v in row.headers.items() if k != "webhook-id"}
    WebhookEvent.objects.filter(pk=row.pk).update(headers=headers)
    assert "webhook-id header was not stored" in _refused(staff, row, account)


def test_the_list_action_replays_and_recovers_together(
    account, staff, django_capture_on_commit_callbacks
):
    row = _dead_before_the_fix(account)
    other = json.dumps({"type": "refund.updated", "data": {}}).encode()
    post(account, other, **standard(other, "msg_2"))
    failed = WebhookEvent.objects.get(dedupe_key="msg_2")
    url = reverse("admin:integrations_webhookevent_changelist")

    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            url,
            {"action": "replay_selected", "_selected_action": [row.pk, failed.pk]},
            follow=True,
        )

    text = response.content.decode()
    assert "1 webhook event(s) queued for replay." in text
    assert "skipped" not in text
    assert WebhookEvent.objects.filter(dedupe_key="msg_1").exists()
    row.refresh_from_db()
    assert row.status == WebhookStatus.PROCESSED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_staff_replaying_one_row_at_once_recover_it_once(monkeypatch):
    account = ProviderAccountFactory(slug="sbx-pay")
    row = _dead_before_the_fix(account)
    reading = recovery.registry.get_adapter(account).webhook_stored_messages
    cls = type(recovery.registry.get_adapter(account))

    def slow(self, **kwargs):
        time.sleep(0.3)  # the other replay arrives while this one reads
        return reading.__func__(self, **kwargs)

    monkeypatch.setattr(cls, "webhook_stored_messages", slow)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def replay_once() -> None:
        try:
            barrier.wait()
            results.append(recovery.webhook_unusable_recover(event_id=row.pk).outcome)
        except BaseException as exc:  # the assertion below shows it
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=replay_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(map(str, results)) == [recovery.ALREADY, recovery.RECOVERED]
    assert len(recovered(account)) == 1
