"""hooks46: staff's replay read the chosen ids, then updated them, without a
lock. A row a worker claimed in between was not requeued (the update skipped
it) but was counted and written to its history as "queued for replay". Now
the rows are locked as they are read (PostgreSQL: FOR UPDATE SKIP LOCKED), so
a row being claimed is skipped, and said so."""

import threading
import time

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection, connections, transaction

from integrations.models import WebhookEvent, WebhookStatus
from integrations.webhooks import services
from tests.factories import ProviderAccountFactory
from tests.integrations.intake42_helpers import failed, run_replay

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 60


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("a concurrent claim needs a second PostgreSQL session")


def _in_thread(target, results: list) -> threading.Thread:
    def run() -> None:
        try:
            results.append(target())
        except BaseException as exc:  # shown by the assertions below
            results.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def _history(row: WebhookEvent) -> list[str]:
    entries = LogEntry.objects.filter(object_id=str(row.pk)).order_by("pk")
    return [entry.change_message for entry in entries]


def test_a_row_a_worker_claims_during_the_replay_is_not_said_queued():
    account = ProviderAccountFactory(slug="sbx-pay")
    first, claimed, last = (failed(account, f"msg_{i}") for i in range(3))
    # Due for a retry: a worker may claim it.
    WebhookEvent.objects.filter(pk=claimed.pk).update(status=WebhookStatus.FAILED)
    holding, release = threading.Event(), threading.Event()

    def worker_claims() -> bool:
        # A worker's claim, its transaction still open while the replay runs.
        with transaction.atomic():
            won = services._rows.claim(claimed.pk)
            holding.set()
            release.wait(WAIT_SECONDS)
        return won

    claims: list = []
    worker = _in_thread(worker_claims, claims)
    assert holding.wait(WAIT_SECONDS)
    outputs: list = []
    replay = _in_thread(
        lambda: run_replay(str(first.pk), str(claimed.pk), str(last.pk)), outputs
    )
    deadline = time.monotonic() + WAIT_SECONDS
    while replay.is_alive() and not _waiting_on_a_lock():
        assert time.monotonic() < deadline, "the replay neither ended nor waited"
        time.sleep(0.05)
    release.set()  # the claim commits
    worker.join(WAIT_SECONDS)
    replay.join(WAIT_SECONDS)

    assert claims == [True]
    [output] = outputs
    assert isinstance(output, str), output
    assert "2 webhook event(s) queued for replay." in output
    assert WebhookEvent.objects.get(pk=claimed.pk).status == WebhookStatus.PROCESSING
    via = "manage.py replay_webhooks, OS user"
    [said] = _history(claimed)
    assert said.startswith(f"Replay ({via}")
    assert said.endswith(
        "skipped, held by a worker or another replay at that moment, "
        "not queued by this replay."
    )
    for row in (first, last):
        [said] = _history(row)
        assert said.endswith("queued for replay.")
