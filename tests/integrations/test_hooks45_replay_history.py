"""hooks45: every replay, from the admin or ``manage.py replay_webhooks``,
leaves one admin-history entry per event saying what became of it: queued,
skipped (being processed), or the unusable body's outcome. One writer
(webhooks.recovery.webhook_replay_history_write) serves both."""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from integrations.models import WebhookEvent, WebhookStatus
from tests.factories import ProviderAccountFactory
from tests.integrations.intake42_helpers import (
    dead_before_the_fix,
    failed,
    received,
    run_replay,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    """A dead event (queued again), one being processed (skipped) and an
    unusable body (read again)."""
    account = ProviderAccountFactory(slug="sbx-pay")
    dead = failed(account, "msg_dead")
    busy = received(account, "msg_busy")
    WebhookEvent.objects.filter(pk=busy.pk).update(status=WebhookStatus.PROCESSING)
    unusable = dead_before_the_fix(account, b'{"data": {}}', "msg_junk")
    return {"queued": dead, "skipped": busy, "unusable": unusable}


def _history(row) -> list[str]:
    entries = LogEntry.objects.filter(object_id=str(row.pk)).order_by("pk")
    return [e.get_change_message() for e in entries]


def _said(rows) -> dict[str, list[str]]:
    return {name: _history(row) for name, row in rows.items()}


def _assert_one_entry_each(said: dict[str, list[str]], how: str) -> None:
    assert [len(texts) for texts in said.values()] == [1, 1, 1], said
    assert "queued for replay" in said["queued"][0]
    assert "skipped, held by a worker or another replay" in said["skipped"][0]
    assert "Still unusable, left dead" in said["unusable"][0]
    for [text] in said.values():
        assert how in text


def test_the_admins_replay_leaves_one_entry_per_event(staff, rows):
    url = reverse("admin:integrations_webhookevent_changelist")
    staff.post(
        url,
        {
            "action": "replay_selected",
            "_selected_action": [row.pk for row in rows.values()],
        },
        follow=True,
    )

    _assert_one_entry_each(_said(rows), "Replay")
    users = {e.user.get_username() for e in LogEntry.objects.all()}
    assert users == {"staff"}


def test_the_commands_replay_leaves_one_entry_per_event(rows, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "ops-alice")

    run_replay(*(str(row.pk) for row in rows.values()))

    _assert_one_entry_each(_said(rows), "manage.py replay_webhooks, OS user ops-alice")
    users = {e.user.get_username() for e in LogEntry.objects.all()}
    assert users == {"manage.py replay_webhooks"}


def test_a_replay_that_only_queues_is_in_the_history(staff, rows):
    row = rows["queued"]
    staff.post(reverse("admin:integrations_webhookevent_replay", args=[row.pk]))

    [text] = _history(row)
    assert "queued for replay" in text
    page = staff.get(
        reverse("admin:integrations_webhookevent_history", args=[row.pk])
    ).content.decode()
    assert "queued for replay" in page
