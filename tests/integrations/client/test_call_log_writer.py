"""Finished call-log rows written behind the call: by a background thread per
process, in batches, with COPY for new rows (PostgreSQL, outside a caller's
transaction). The rest of the suite writes them in the call
(``PROVIDER_CALL_LOG_LINGER_MS`` = 0)."""

import logging
import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from integrations import call_log
from integrations import client as client_module
from integrations.models import ProviderCall
from integrations.testing.faultserver import respond
from tests.factories import ProviderAccountFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class ObservedWriter(call_log.CallLogWriter):
    """The production writer, telling the test when its thread went idle
    (and closed its database connection)."""

    def __init__(self) -> None:
        self.linger_seconds = 0.02
        super().__init__(
            linger=lambda: self.linger_seconds, name="test-call-log", idle_seconds=0.1
        )
        self.idled = threading.Event()

    def on_idle(self) -> None:
        super().on_idle()
        self.idled.set()


@pytest.fixture
def writer(monkeypatch, settings):
    settings.PROVIDER_CALL_LOG_LINGER_MS = 20
    observed = ObservedWriter()
    monkeypatch.setattr(call_log, "writer", observed)
    yield observed
    # The thread's connection must be gone before the database is flushed.
    assert observed.idled.wait(timeout=5)


def _statements_of_this_thread():
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    return statements, connection.execute_wrapper(record)


def _wait_for(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.01)
    raise AssertionError("not written in time")


def test_a_finished_get_is_written_by_the_thread_not_the_caller(
    writer, client, fault, account
):
    fault.route("GET", "/x", respond(200, json={}))
    statements, recording = _statements_of_this_thread()

    with recording:
        for _ in range(3):
            client.request(
                "GET", fault.url_for("/x"), operation="list", idempotent=True
            )

    assert statements == []  # the caller never waited for the database
    _wait_for(lambda: ProviderCall.objects.count() == 3)
    calls = list(ProviderCall.objects.order_by("pk"))
    assert {c.account_id for c in calls} == {account.pk}
    assert [(c.operation, c.outcome, c.http_status, c.attempts) for c in calls] == [
        ("list", "success", 200, 1)
    ] * 3
    assert all(c.finished_at >= c.started_at and c.correlation_id for c in calls)
    assert len({c.idempotency_key for c in calls}) == 3


def test_a_prewritten_row_is_durable_at_once_and_finished_behind(writer, client, fault):
    fault.route("POST", "/x", respond(201, json={}))

    client.request("POST", fault.url_for("/x"), operation="pay", idempotent=False)

    # The row with the idempotency key was written in the call.
    row = ProviderCall.objects.get()
    assert row.idempotency_key == fault.requests[0].header("Idempotency-Key")
    _wait_for(lambda: ProviderCall.objects.filter(outcome="success").exists())
    row.refresh_from_db()
    assert (row.outcome, row.http_status, row.attempts) == ("success", 201, 1)


def test_a_task_worker_writes_its_rows_when_the_task_ends(writer, client, fault):
    from django_q.signals import post_execute_in_worker

    writer.linger_seconds = 1.0  # the thread would wait a second
    fault.route("GET", "/x", respond(200))
    client.request("GET", fault.url_for("/x"), operation="x", idempotent=True)
    assert ProviderCall.objects.count() == 0

    post_execute_in_worker.send(sender="django_q", func=None, task={})

    assert ProviderCall.objects.count() == 1


def test_inside_a_callers_transaction_the_row_is_written_in_it(writer, client, fault):
    fault.route("GET", "/x", respond(200))

    with transaction.atomic():
        client.request("GET", fault.url_for("/x"), operation="x", idempotent=True)
        assert ProviderCall.objects.count() == 1
        transaction.set_rollback(True)

    assert ProviderCall.objects.count() == 0
    writer.idled.set()  # the thread never started


def test_a_batch_that_fails_is_logged_and_the_next_one_is_written(caplog):
    account = ProviderAccountFactory()
    writer = call_log.CallLogWriter(linger=lambda: 0.02, name="test")
    names, sql = client_module.relaxed_sql("default", "insert")
    copy = client_module.relaxed_sql("default", "copy")[1]

    def statement(account_pk: int) -> call_log.Statement:
        stamp = timezone.now()
        row = {
            "account_id": account_pk,
            "operation": "list",
            "outcome": "success",
            "correlation_id": "corr",
            "idempotency_key": "",
            "http_status": 200,
            "attempts": 1,
            "duration_ms": 5,
            "error_code": "",
            "started_at": stamp,
            "finished_at": stamp,
        }
        return call_log.Statement("default", sql, [row[n] for n in names], copy)

    with caplog.at_level(logging.ERROR, logger="integrations.call_log"):
        # No such account: the foreign key refuses the whole batch.
        assert writer.send([statement(account.pk + 1000)]) is False
    assert "provider call log write failed" in caplog.text
    assert "corr" not in caplog.text  # counts only, no row contents

    assert writer.send([statement(account.pk), statement(account.pk)]) is True
    assert ProviderCall.objects.filter(account=account).count() == 2


def test_the_thread_outlives_a_batch_that_raises(monkeypatch, caplog):
    sent: list[list[int]] = []

    class Flaky(call_log.CallLogWriter):
        def send(self, items):
            if items == [1]:
                raise TypeError("not a row")
            sent.append(list(items))
            return True

    flaky = Flaky(linger=lambda: 0.01, name="flaky")
    with caplog.at_level(logging.ERROR, logger="integrations.task_batcher"):
        flaky.add(1)
        _wait_for(lambda: "background batch failed" in caplog.text)
        flaky.add(2)
        _wait_for(lambda: sent == [[2]])
