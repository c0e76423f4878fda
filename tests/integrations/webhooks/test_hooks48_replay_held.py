"""hooks48: staff's replay locks the chosen rows as it reads them (PostgreSQL
FOR UPDATE SKIP LOCKED) and leaves out a row someone else holds. It said of
every such row "skipped, being processed right now", also of one another
replay held at that moment, which that replay may yet roll back: then
nothing processes it, and the message had said it was being processed.
Now the command's line, the admin's message and the row's history say what
is known: a worker or another replay held it, and this replay did not
queue it."""

import threading

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection, connections, transaction
from django.urls import reverse

from integrations.models import WebhookEvent, WebhookStatus
from integrations.webhooks import services
from tests.factories import ProviderAccountFactory
from tests.integrations.intake42_helpers import failed, run_replay

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 60
HELD = "held by a worker or another replay at that moment, not queued by this replay"


class Rollback(Exception):
    pass


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("a concurrent replay needs a second PostgreSQL session")


@pytest.fixture
def held():
    """A dead row another replay holds (its requeue done, not committed)
    for the test's duration; that replay then rolls back."""
    account = ProviderAccountFactory(slug="sbx-pay")
    free, row = failed(account, "msg_free"), failed(account, "msg_held")
    holding, release = threading.Event(), threading.Event()
    outcome: list = []

    def other_replay() -> None:
        try:
            with transaction.atomic():
                outcome.append(services.webhook_events_requeue(event_ids=[row.pk]))
                holding.set()
                release.wait(WAIT_SECONDS)
                raise Rollback
        except Rollback:
            outcome.append("rolled back")
        finally:
            holding.set()
            connections.close_all()

    thread = threading.Thread(target=other_replay, daemon=True)
    thread.start()
    assert holding.wait(WAIT_SECONDS)
    yield free, row
    release.set()
    thread.join(WAIT_SECONDS)
    assert outcome == [[row.pk], "rolled back"]
    # Nobody processed it or queued it: it is as it was.
    assert WebhookEvent.objects.get(pk=row.pk).status == WebhookStatus.DEAD


def _history(row: WebhookEvent) -> list[str]:
    entries = LogEntry.objects.filter(object_id=str(row.pk)).order_by("pk")
    return [entry.change_message for entry in entries]


def test_the_command_says_a_row_another_replay_holds_is_held_not_processed(held):
    free, row = held

    output = run_replay(str(free.pk), str(row.pk))

    assert "1 webhook event(s) queued for replay." in output
    assert f"#{row.pk}: skipped, {HELD}." in output
    assert "being processed right now" not in output
    [said] = _history(row)
    assert said.endswith(f"skipped, {HELD}.")
    [said] = _history(free)
    assert said.endswith("queued for replay.")


def test_the_admin_says_a_row_another_replay_holds_is_held_not_processed(held, staff):
    free, row = held
    url = reverse("admin:integrations_webhookevent_changelist")

    page = staff.post(
        url,
        {"action": "replay_selected", "_selected_action": [free.pk, row.pk]},
        follow=True,
    ).content.decode()

    assert f"1 skipped: {HELD}." in page
    assert "being processed right now" not in page
    [said] = _history(row)
    assert said == f"Replay: skipped, {HELD}."
