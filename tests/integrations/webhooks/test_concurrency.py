"""Concurrent duplicates and concurrent workers on PostgreSQL, over real
connections (one per thread)."""

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, connections, transaction

from integrations.models import WebhookEvent, WebhookStatus
from integrations.webhooks.services import webhook_event_process, webhook_event_receive
from tests.factories import ProviderAccountFactory, WebhookEventFactory
from tests.integrations.webhooks import handlers
from tests.integrations.webhooks.conftest import HANDLERS, make_body, sw_headers

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _in_threads(*targets: Callable[[], object]) -> list[object]:
    results: list[object] = [None] * len(targets)
    errors: list[BaseException] = []

    def run(index: int, target: Callable[[], object]) -> None:
        try:
            results[index] = target()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


def _wait_until_blocked_on_a_lock() -> None:
    """Poll (not sleep for a guessed time) until another backend waits on a
    row or index lock."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the second insert never blocked")


def test_concurrent_duplicate_posts_both_2xx_and_processed_once(post_webhook):
    ProviderAccountFactory(slug="sbx-pay")
    body = make_body()
    barrier = threading.Barrier(4)

    def deliver():
        barrier.wait()
        headers = sw_headers(body, webhook_id="msg_race")
        return post_webhook("sbx-pay", body, headers).status_code

    statuses = _in_threads(*[deliver] * 4)
    assert statuses == [200] * 4
    event = WebhookEvent.objects.get()
    assert event.status == WebhookStatus.PROCESSED
    assert len(handlers.calls) == 1


def test_duplicate_racing_an_uncommitted_insert_gets_the_winners_row():
    # Forces the interleaving: A has inserted but not committed when B inserts;
    # B waits on the unique index, then loses to A's commit.
    account = ProviderAccountFactory(slug="sbx-pay")
    from integrations.registry import get_adapter

    body = make_body()
    raw = {
        k[5:].lower().replace("_", "-"): v
        for k, v in sw_headers(body, webhook_id="msg_forced").items()
    }
    message = get_adapter(account).verify_webhook(body=body, headers=raw, url="")
    a_inserted, a_may_commit = threading.Event(), threading.Event()

    def first():
        with transaction.atomic():
            result = webhook_event_receive(
                account=account, message=message, body=body, headers=raw
            )
            a_inserted.set()
            a_may_commit.wait(timeout=10)
        return result[1]

    def second():
        a_inserted.wait(timeout=10)
        return webhook_event_receive(
            account=account, message=message, body=body, headers=raw
        )[1]

    def referee():
        a_inserted.wait(timeout=10)
        _wait_until_blocked_on_a_lock()
        a_may_commit.set()

    created = _in_threads(first, second, referee)[:2]
    assert created == [True, False]
    assert WebhookEvent.objects.count() == 1
    assert len(handlers.calls) == 1  # only the winner's commit enqueued it


def test_two_workers_on_one_event_run_the_handler_once(settings):
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {
        "payments": {"*": f"{HANDLERS}.wait_for_gate"}
    }
    event = WebhookEventFactory(account=ProviderAccountFactory(slug="sbx-pay"))
    barrier = threading.Barrier(2)

    def work():
        barrier.wait()
        result = webhook_event_process(event_id=event.pk)
        handlers.GATE.set()  # the loser opens the gate for the winner
        return result

    results = _in_threads(work, work)
    assert results.count(None) == 1 and WebhookStatus.PROCESSED in results
    assert len(handlers.calls) == 1
