"""The finished call's row: one statement committed without waiting for the
disk (PostgreSQL, autocommit), never relaxing anything else."""

import pytest
from django.db import connection, transaction

from integrations import client as client_module
from integrations.client import call_rows
from integrations.client.session import key_on_record
from integrations.errors import Unknown
from integrations.models import ProviderCall
from integrations.secrets_registry import known_secrets
from integrations.testing.faultserver import respond

RELAXED = client_module.RELAXED_FROM

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _setting() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_the_relaxing_from_item_turns_synchronous_commit_off_for_its_statement():
    with connection.cursor() as cursor:
        query = f"SELECT current_setting('synchronous_commit') FROM {RELAXED}"  # noqa: S608
        cursor.execute(query)
        inside = cursor.fetchone()[0]

    assert inside == "off"
    assert _setting() == "on"


def test_a_get_is_one_relaxed_insert(client, fault, account, monkeypatch, settings):
    fault.route("GET", "/x", respond(503))
    # The log filter's periodic look at the accounts' secrets is not the
    # client's write: keep it out of the window counted below.
    settings.SECRET_REDACTION_CHECK_SECONDS = 3600
    known_secrets(fresh=True)
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record), pytest.raises(Unknown):
        client.request("GET", fault.url_for("/x"), operation="list", idempotent=True)

    assert len(statements) == 1
    assert statements[0].startswith("INSERT")
    assert client_module.RELAXED_FROM in statements[0]
    assert _setting() == "on"
    call = ProviderCall.objects.get()
    assert call.account_id == account.pk
    assert (call.operation, call.outcome, call.http_status, call.attempts) == (
        "list",
        "unknown",
        503,
        3,
    )
    assert call.error_code == "server_error"
    assert call.correlation_id and call.idempotency_key
    assert call.finished_at >= call.started_at
    assert call.duration_ms is not None


def test_a_post_prewrites_durably_then_finishes_relaxed(client, fault):
    fault.route("POST", "/x", respond(200, json={}))
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        client.request("POST", fault.url_for("/x"), operation="pay", idempotent=False)

    insert, update = statements
    # The row with the idempotency key: an ordinary, durable commit.
    assert insert.startswith("INSERT") and client_module.RELAXED_FROM not in insert
    assert update.startswith("UPDATE") and client_module.RELAXED_FROM in update
    assert _setting() == "on"
    call = ProviderCall.objects.get()
    assert (call.outcome, call.http_status, call.attempts) == ("success", 200, 1)
    assert call.idempotency_key == fault.requests[0].header("Idempotency-Key")


def test_a_post_whose_key_is_on_record_writes_its_row_behind_the_call(client, fault):
    fault.route("POST", "/x", respond(200, json={}))
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    # The caller (a keyed attempt) committed the key: no commit before the call.
    with connection.execute_wrapper(record), key_on_record():
        client.request("POST", fault.url_for("/x"), operation="pay", idempotent=False)

    (insert,) = statements
    assert insert.startswith("INSERT") and client_module.RELAXED_FROM in insert
    call = ProviderCall.objects.get()
    assert (call.outcome, call.http_status, call.attempts) == ("success", 200, 1)
    # The key still goes to the provider, and is logged with the call.
    assert call.idempotency_key == fault.requests[0].header("Idempotency-Key")


def test_inside_a_callers_transaction_nothing_is_relaxed(client, fault):
    fault.route("GET", "/x", respond(200))
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record), transaction.atomic():
        client.request("GET", fault.url_for("/x"), operation="x", idempotent=True)
        assert _setting() == "on"
        transaction.set_rollback(True)

    assert not any(client_module.RELAXED_FROM in sql for sql in statements)
    # Written in the caller's transaction, so rolled back with it.
    assert ProviderCall.objects.count() == 0


def test_a_failed_log_write_does_not_fail_the_call(client, fault, monkeypatch, caplog):
    from django.db import DatabaseError

    fault.route("GET", "/x", respond(200))

    def broken(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(call_rows, "write_relaxed", broken)
    response = client.request(
        "GET", fault.url_for("/x"), operation="x", idempotent=True
    )

    assert response.status_code == 200
    assert "provider call log write failed" in caplog.text
