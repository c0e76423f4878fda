"""``integrations.db.execute_one``: the webhook intake's one statement.

On PostgreSQL, outside a transaction, it goes to libpq as a statement
prepared once per connection; these tests need real autocommit, hence
``transaction=True``.
"""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations import db
from integrations.models import WebhookEvent
from integrations.providers.base import WebhookMessage
from integrations.webhooks import services
from integrations.webhooks.services import _insert_statement
from tests.factories import ProviderAccountFactory
from tests.pg import drop_pooled_connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the libpq path exists on PostgreSQL only")


def insert(account_pk: int, key: str, **changes):
    return db.execute_one(*insert_params(account_pk, key, **changes))


def insert_params(account_pk: int, key: str, **changes) -> tuple[str, list]:
    statement = _insert_statement("default")
    values = {
        "account": account_pk,
        "event_type": "payment.succeeded",
        "dedupe_key": key,
        "raw_body": b'{"type": "payment.succeeded"}',
        "payload": {"type": "payment.succeeded", "amount": 1999},
        "headers": {"content-type": "application/json"},
        "occurred_at": timezone.now(),
        "correlation_id": "corr-1",
        "received_at": timezone.now(),
        **changes,
    }
    return statement.sql, statement.params(**values)


def prepared_names() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_a_row_is_stored_once_and_a_duplicate_returns_nothing():
    account = ProviderAccountFactory()

    first = insert(account.pk, "evt_1")
    again = insert(account.pk, "evt_1")

    assert again is None
    row = WebhookEvent.objects.get(pk=first[0])
    assert (row.dedupe_key, row.status, row.attempts) == ("evt_1", "received", 0)
    assert row.payload == {"type": "payment.succeeded", "amount": 1999}
    assert bytes(row.raw_body) == b'{"type": "payment.succeeded"}'
    assert row.headers == {"content-type": "application/json"}


def test_the_statement_is_prepared_once_per_connection():
    account = ProviderAccountFactory()

    for n in range(3):
        insert(account.pk, f"evt_{n}")

    ours = [name for name in prepared_names() if name.startswith("switchyard_")]
    assert len(ours) == 1
    assert WebhookEvent.objects.count() == 3


def test_inside_a_transaction_too_the_statement_is_prepared_once():
    # Planning an unnamed statement again on every run cost PostgreSQL
    # 0.1-0.3 ms per payment statement.
    account = ProviderAccountFactory()
    insert(account.pk, "evt_0")  # prepared in autocommit
    for n in range(1, 4):
        with transaction.atomic():
            insert(account.pk, f"evt_{n}")
            insert(account.pk, f"evt_{n}-b")
    with transaction.atomic():
        db.execute_one(*insert_params(account.pk, "evt_last"), commit=True)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements"
            " WHERE name LIKE 'switchyard%%'"
        )
        assert cursor.fetchall() == [(8,)]  # one statement, run by name 8 times
    assert WebhookEvent.objects.count() == 8


def test_a_statement_deallocated_behind_its_back_is_prepared_again():
    account = ProviderAccountFactory()
    insert(account.pk, "evt_1")
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")

    assert insert(account.pk, "evt_2") is not None
    assert WebhookEvent.objects.count() == 2


def test_without_prepared_statements_nothing_is_prepared():
    # prepare_threshold None: behind PgBouncer (DB_PREPARED_STATEMENTS=false).
    account = ProviderAccountFactory()
    connection.ensure_connection()
    connection.connection.prepare_threshold = None
    try:
        insert(account.pk, "evt_1")
        insert(account.pk, "evt_2")
        assert not [n for n in prepared_names() if n.startswith("switchyard_")]
    finally:
        connection.close()
    assert WebhookEvent.objects.count() == 2


def test_a_failing_statement_raises_djangos_error_and_the_connection_still_works():
    account = ProviderAccountFactory()

    with pytest.raises(IntegrityError):
        insert(account.pk + 1000, "evt_1")  # no such account: the FK refuses

    assert insert(account.pk, "evt_1") is not None


def test_inside_a_transaction_it_goes_through_djangos_cursor():
    account = ProviderAccountFactory()

    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        insert(account.pk, "evt_1")

    assert any("INSERT INTO" in q["sql"] for q in queries.captured_queries)


def test_with_queries_recorded_it_goes_through_djangos_cursor():
    account = ProviderAccountFactory()

    with CaptureQueriesContext(connection) as queries:
        insert(account.pk, "evt_1")

    assert len(queries.captured_queries) == 1


def test_placeholders_are_numbered_and_other_percent_signs_refuse_the_fast_path():
    assert db._numbered("SELECT %s, %s") == b"SELECT $1, $2"
    assert db._numbered("SELECT '100%%' || %s") is None


def receive(account, key: str):
    message = WebhookMessage(
        event_type="payment.succeeded",
        dedupe_key=key,
        payload={"type": "payment.succeeded"},
        occurred_at=None,
    )
    return services.webhook_event_receive(
        account=account, message=message, body=b"{}", headers={}
    )


def test_a_duplicate_gets_the_stored_rows_id():
    account = ProviderAccountFactory()

    first_id, created = receive(account, "evt_1")
    again_id, again_created = receive(account, "evt_1")

    assert (created, again_created) == (True, False)
    assert again_id == first_id
    assert WebhookEvent.objects.count() == 1


def test_a_duplicate_whose_row_vanished_is_stored_again(monkeypatch):
    # The stored row is deleted (a prune) between the conflict and the read
    # of its id: the first statement (INSERT and SELECT in one on PostgreSQL)
    # returns no row, and the webhook is stored anew, not lost.
    account = ProviderAccountFactory()
    answers = iter([None])
    real = db.execute_one

    def first_finds_nothing(sql, params, *, using="default", resend=False):
        answer = next(answers, "real")
        if answer != "real":
            return answer
        return real(sql, params, using=using, resend=resend)

    monkeypatch.setattr(services, "execute_one", first_finds_nothing)

    event_id, created = receive(account, "evt_1")

    assert created
    assert WebhookEvent.objects.get().pk == event_id


def test_a_duplicate_costs_one_statement(monkeypatch):
    account = ProviderAccountFactory()
    first_id, _ = receive(account, "evt_1")
    sent = []
    real = db.execute_one

    def counting(sql, params, *, using="default", resend=False):
        sent.append(sql)
        return real(sql, params, using=using, resend=resend)

    monkeypatch.setattr(services, "execute_one", counting)

    assert receive(account, "evt_1") == (first_id, False)
    assert receive(account, "evt_2")[1] is True
    assert len(sent) == 2
    assert WebhookEvent.objects.count() == 2


def test_a_statement_not_safe_to_send_twice_is_not_resent_on_a_new_connection():
    account = ProviderAccountFactory()
    connection.ensure_connection()
    drop_pooled_connection()

    from django.db import OperationalError

    with pytest.raises(OperationalError):
        # A plain INSERT may have committed before its connection dropped.
        db.execute_one(*insert_params(account.pk, "k-plain"))
    connection.close()
    assert not WebhookEvent.objects.filter(dedupe_key="k-plain").exists()

    drop_pooled_connection()
    row = db.execute_one(*insert_params(account.pk, "k-safe"), resend=True)
    assert row is not None  # ON CONFLICT DO NOTHING: sent again, stored once
    assert WebhookEvent.objects.filter(dedupe_key="k-safe").count() == 1


def test_inside_a_transaction_marked_for_rollback_it_refuses_like_the_orm():
    from django.db.transaction import TransactionManagementError

    account = ProviderAccountFactory()
    with transaction.atomic():
        db.execute_one("SELECT 1", [])  # psycopg's BEGIN is sent
        transaction.set_rollback(True)
        with pytest.raises(TransactionManagementError):
            db.execute_one(*insert_params(account.pk, "k-broken"))
    assert not WebhookEvent.objects.filter(dedupe_key="k-broken").exists()


@pytest.fixture
def commands(monkeypatch):
    """The transaction commands psycopg sends on its own (BEGIN, COMMIT)."""
    from psycopg._connection_base import BaseConnection

    sent: list[bytes] = []
    original = BaseConnection._exec_command

    def record(self, command, *args, **kwargs):
        sent.append(bytes(command) if not isinstance(command, str) else command)
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(BaseConnection, "_exec_command", record)
    return sent


def _status() -> str:
    from psycopg import pq

    return pq.TransactionStatus(connection.connection.pgconn.transaction_status).name


def test_a_transactions_first_statement_carries_its_begin(commands):
    account = ProviderAccountFactory()

    with transaction.atomic():
        assert insert(account.pk, "evt_1") is not None
        assert _status() == "INTRANS"
        assert insert(account.pk, "evt_2") is not None

    assert not any(c.startswith(b"BEGIN") for c in commands)
    assert commands == [b"COMMIT"]
    assert WebhookEvent.objects.count() == 2


def test_the_last_statement_of_the_only_block_may_carry_the_commit(commands):
    account = ProviderAccountFactory()

    with transaction.atomic():
        insert(account.pk, "evt_1")
        sql, params = insert_params(account.pk, "evt_2")
        assert db.execute_one(sql, params, commit=True) is not None
        assert _status() == "IDLE"  # committed; Django's exit sends nothing

    assert commands == []
    assert WebhookEvent.objects.count() == 2


def test_a_failing_statement_keeps_the_riding_commit_from_running():
    account = ProviderAccountFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        insert(account.pk, "evt_1")
        sql, params = insert_params(account.pk + 1000, "evt_2")  # the FK refuses
        db.execute_one(sql, params, commit=True)

    assert not WebhookEvent.objects.exists()  # evt_1 rolled back with it
    assert insert(account.pk, "evt_3") is not None  # the connection works


def test_a_failing_first_statement_leaves_no_transaction_open():
    account = ProviderAccountFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        sql, params = insert_params(account.pk + 1000, "evt_1")
        db.execute_one(sql, params, commit=True)  # BEGIN, INSERT, COMMIT

    assert _status() == "IDLE"
    assert insert(account.pk, "evt_2") is not None


def test_inside_a_savepoint_the_commit_does_not_ride():
    account = ProviderAccountFactory()

    with transaction.atomic():
        insert(account.pk, "evt_1")
        with transaction.atomic():
            sql, params = insert_params(account.pk, "evt_2")
            db.execute_one(sql, params, commit=True)
            assert _status() == "INTRANS"
        transaction.set_rollback(True)

    assert not WebhookEvent.objects.exists()


def test_without_pipeline_mode_psycopg_sends_begin_and_commit(commands, monkeypatch):
    monkeypatch.setattr(db, "_pipelines", lambda: False)  # libpq older than 14
    account = ProviderAccountFactory()

    with transaction.atomic():
        insert(account.pk, "evt_1")
        sql, params = insert_params(account.pk, "evt_2")
        db.execute_one(sql, params, commit=True)
        assert _status() == "INTRANS"

    assert commands == [b"BEGIN", b"COMMIT"]
    assert WebhookEvent.objects.count() == 2


def test_a_connection_on_a_socket_numbered_past_1023_still_pipelines():
    import os

    account = ProviderAccountFactory()
    connection.close()
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        connection.ensure_connection()  # its socket numbered past them
        assert connection.connection.pgconn.socket > 1023
        with transaction.atomic():
            insert(account.pk, "evt_1")
            sql, params = insert_params(account.pk, "evt_2")
            db.execute_one(sql, params, commit=True)
    finally:
        for fd in spare:
            os.close(fd)
    assert WebhookEvent.objects.count() == 2


def test_execute_rows_reads_every_row_past_the_cursor(monkeypatch):
    account = ProviderAccountFactory()
    insert(account.pk, "evt_1")
    insert(account.pk, "evt_2")
    direct = []
    original = db._execute_libpq
    monkeypatch.setattr(
        db, "_execute_libpq", lambda *a: direct.append(1) or original(*a)
    )
    sql = "SELECT dedupe_key FROM integrations_webhookevent WHERE account_id = %s"

    rows = db.execute_rows(sql + " ORDER BY dedupe_key", [account.pk])
    none = db.execute_rows(sql, [account.pk + 1000])
    with transaction.atomic():
        inside = db.execute_rows(sql + " ORDER BY dedupe_key", [account.pk])

    assert rows == inside == [("evt_1",), ("evt_2",)]
    assert none == []
    assert direct == [1, 1]  # the first in the transaction carried its BEGIN


def test_a_read_meeting_a_dead_connection_is_sent_again_on_a_new_one():
    account = ProviderAccountFactory()
    insert(account.pk, "evt_1")
    connection.ensure_connection()
    drop_pooled_connection()

    rows = db.execute_rows(
        "SELECT dedupe_key FROM integrations_webhookevent WHERE account_id = %s",
        [account.pk],
    )

    assert rows == [("evt_1",)]
