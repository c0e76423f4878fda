"""hooks46: a replay's history was written after the replay, outside its
transaction: a crash between them (the process killed, the database gone)
left events requeued and unusable bodies recovered with no history saying
who did it. Now the history is written in the replay's transaction: both
land, or neither."""

import pytest
from django.contrib.admin.models import LogEntry
from django.db import DatabaseError
from django.urls import reverse

from integrations.models import WebhookEvent, WebhookStatus
from tests.factories import ProviderAccountFactory
from tests.integrations.intake42_helpers import (
    UNUSABLE,
    dead_before_the_fix,
    failed,
    run_replay,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    """A dead event (queued by a replay) and an unusable body a fix can now
    read (recovered by a replay)."""
    account = ProviderAccountFactory(slug="sbx-pay")
    return {
        "dead": failed(account, "msg_dead"),
        "unusable": dead_before_the_fix(account, webhook_id="msg_junk"),
    }


@pytest.fixture
def history_fails(monkeypatch):
    """Writing the history fails (as a crash after the replay would)."""

    def fail(*args, **kwargs):
        raise DatabaseError("the database went away")

    monkeypatch.setattr(type(LogEntry.objects), "log_actions", fail)


def _assert_nothing_replayed(rows, callbacks) -> None:
    dead = WebhookEvent.objects.get(pk=rows["dead"].pk)
    assert (dead.status, dead.attempts) == (WebhookStatus.DEAD, 5)
    unusable = WebhookEvent.objects.get(pk=rows["unusable"].pk)
    assert (unusable.status, unusable.note) == (WebhookStatus.DEAD, "")
    # Nothing the recovery would have stored, nothing enqueued.
    assert list(WebhookEvent.objects.exclude(event_type=UNUSABLE)) == [dead]
    assert callbacks == []
    assert not LogEntry.objects.exists()


def test_the_commands_replay_is_undone_when_its_history_fails(
    rows, history_fails, django_capture_on_commit_callbacks
):
    ids = [str(row.pk) for row in rows.values()]
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(DatabaseError),
    ):
        run_replay(*ids)

    _assert_nothing_replayed(rows, callbacks)


def test_the_admins_replay_is_undone_when_its_history_fails(
    staff, rows, history_fails, django_capture_on_commit_callbacks
):
    url = reverse("admin:integrations_webhookevent_changelist")
    chosen = {
        "action": "replay_selected",
        "_selected_action": [row.pk for row in rows.values()],
    }
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(DatabaseError),
    ):
        staff.post(url, chosen)

    _assert_nothing_replayed(rows, callbacks)


def test_the_history_lands_with_the_replay(rows, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        run_replay(*(str(row.pk) for row in rows.values()))

    assert WebhookEvent.objects.get(pk=rows["dead"].pk).status == (
        WebhookStatus.RECEIVED
    )
    assert WebhookEvent.objects.get(pk=rows["unusable"].pk).status == (
        WebhookStatus.PROCESSED
    )
    assert callbacks  # the requeued and the recovered events are enqueued
    for row in rows.values():
        assert LogEntry.objects.filter(object_id=str(row.pk)).count() == 1


def test_each_step_lands_with_its_own_history(
    rows, monkeypatch, django_capture_on_commit_callbacks
):
    """The requeue and each recovery commit with their entries, one step at
    a time (one transaction over the whole replay held every row locked
    for its length): a failure writing a recovery's entry leaves the
    requeue done and said, and that recovery undone."""
    write = type(LogEntry.objects).log_actions
    calls = []

    def second_fails(self, *args, **kwargs):
        calls.append(kwargs["change_message"])
        if len(calls) > 1:
            raise DatabaseError("the database went away")
        return write(self, *args, **kwargs)

    monkeypatch.setattr(type(LogEntry.objects), "log_actions", second_fails)
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(DatabaseError),
    ):
        run_replay(*(str(row.pk) for row in rows.values()))

    dead = WebhookEvent.objects.get(pk=rows["dead"].pk)
    assert dead.status == WebhookStatus.RECEIVED
    assert LogEntry.objects.get(object_id=str(dead.pk)).change_message.startswith(
        "Replay"
    )
    unusable = WebhookEvent.objects.get(pk=rows["unusable"].pk)
    assert (unusable.status, unusable.note) == (WebhookStatus.DEAD, "")
    assert not LogEntry.objects.filter(object_id=str(unusable.pk)).exists()
    assert len(callbacks) == 1  # the requeued event only
