"""``integrations.row_sql``: a row written by one hand-built statement is the
row the ORM writes (defaults, ``auto_now``, JSON), on SQLite and PostgreSQL,
in autocommit and inside a transaction (where PostgreSQL sends it past
psycopg's cursor, its BEGIN in the same round trip)."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from integrations.commits import commit_group, group_commit, group_join
from integrations.models import IdempotencyRecord
from integrations.row_sql import row_insert, row_insert_later, row_update
from payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = {
    "order_id": "order-1",
    "amount": 1050,
    "currency": "EUR",
    "customer_email": "ada@example.com",
    "ip_address": "192.0.2.1",
    "metadata": {"cart": "c-77", "n": "ü"},
    "risk_reasons": ["velocity"],
    "risk_score": 12,
}
_VOLATILE = {"id", "public_id", "created_at", "updated_at", "idempotency_key"}


def _row(payment: Payment) -> dict:
    fresh = Payment.objects.get(pk=payment.pk)
    return {k: v for k, v in model_to_dict(fresh).items() if k not in _VOLATILE}


@pytest.mark.parametrize("in_transaction", [False, True])
def test_insert_writes_the_row_the_orm_writes(in_transaction):
    by_orm = Payment.objects.create(**FIELDS, idempotency_key="k-orm")
    if in_transaction:
        with transaction.atomic():
            Payment.objects.count()  # the BEGIN goes out first
            by_sql = row_insert(Payment(**FIELDS, idempotency_key="k-sql"))
    else:
        by_sql = row_insert(Payment(**FIELDS, idempotency_key="k-sql"))
    assert _row(by_sql) == _row(by_orm)
    fresh = Payment.objects.get(pk=by_sql.pk)
    assert fresh.public_id == by_sql.public_id and fresh.public_id.startswith("pay_")
    assert fresh.created_at == by_sql.created_at
    assert fresh.updated_at == by_sql.updated_at
    assert fresh.metadata == {"cart": "c-77", "n": "ü"}
    assert not by_sql._state.adding


def test_insert_conflict_is_djangos_integrity_error():
    row_insert(Payment(**FIELDS, idempotency_key="k-1"))
    with pytest.raises(IntegrityError):
        row_insert(Payment(**FIELDS, idempotency_key="k-1"))
    assert Payment.objects.filter(idempotency_key="k-1").count() == 1


def test_insert_conflict_inside_a_transaction_rolls_it_back():
    row_insert(Payment(**FIELDS, idempotency_key="k-1"))
    with pytest.raises(IntegrityError), transaction.atomic():
        row_insert(Payment(**FIELDS, idempotency_key="k-2"))
        row_insert(Payment(**FIELDS, idempotency_key="k-1"))
    assert not Payment.objects.filter(idempotency_key="k-2").exists()
    assert Payment.objects.count() == 1  # and the connection is usable again


def test_update_writes_only_the_named_fields_under_its_guard():
    payment = row_insert(Payment(**FIELDS, idempotency_key="k-1"))
    # Another writer changed a field this update does not name.
    Payment.objects.filter(pk=payment.pk).update(dispute_status="open")
    before = payment.updated_at
    payment.status = "captured"
    payment.amount_authorized = payment.amount_captured = 1050
    payment.order_id = "not-written"
    names = ["status", "amount_authorized", "amount_captured"]
    assert row_update(payment, names, where={"status": "pending"})
    fresh = Payment.objects.get(pk=payment.pk)
    assert (fresh.status, fresh.amount_captured) == ("captured", 1050)
    assert fresh.dispute_status == "open" and fresh.order_id == "order-1"
    assert fresh.updated_at == payment.updated_at > before
    # The guard no longer holds: nothing is written.
    payment.status = "voided"
    assert not row_update(payment, ["status"], where={"status": "pending"})
    assert Payment.objects.get(pk=payment.pk).status == "captured"


def test_update_json_and_null_guard():
    record = row_insert(
        IdempotencyRecord(
            owner="api-key:1",
            key="k",
            method="POST",
            path="/x/",
            request_hash="h",
            state="in_flight",
        )
    )
    record.response_body = {"id": "pay_1", "amount": 5}
    record.completed_at = timezone.now()
    record.state = "completed"
    names = ["state", "response_body", "completed_at"]
    assert row_update(record, names, where={"completed_at": None})
    fresh = IdempotencyRecord.objects.get(pk=record.pk)
    assert fresh.response_body == {"id": "pay_1", "amount": 5}
    assert fresh.completed_at - record.completed_at < timedelta(seconds=1)
    assert not row_update(record, ["state"], where={"completed_at": None})


def test_postgresql_sends_in_transaction_statements_past_the_cursor(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the libpq path exists on PostgreSQL only")
    from integrations import db

    direct = []
    original = db._execute_libpq
    monkeypatch.setattr(
        db, "_execute_libpq", lambda *a: direct.append(1) or original(*a)
    )
    with transaction.atomic():
        row_insert(Payment(**FIELDS, idempotency_key="k-1"))  # with its BEGIN
        row_insert(Payment(**FIELDS, idempotency_key="k-2"))
    assert direct == [1]
    assert Payment.objects.count() == 2


def _runs_by_name() -> int:
    """How often our named statements ran on this connection."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(generic_plans + custom_plans), 0)"
            " FROM pg_prepared_statements WHERE name LIKE 'switchyard%%'"
        )
        return cursor.fetchone()[0]


def test_postgresql_statements_survive_a_rollback_inside_a_transaction():
    # psycopg follows a rollback with DEALLOCATE ALL once it has prepared a
    # statement of its own; our cursors never let it, so a transaction's
    # named statements are still there after one.
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements exist on PostgreSQL only")
    row_insert(Payment(**FIELDS, idempotency_key="k-0"))  # prepared, autocommit
    for n in range(8):  # past psycopg's prepare threshold
        with pytest.raises(IntegrityError), transaction.atomic():
            row_insert(Payment(**FIELDS, idempotency_key=f"k-{n % 2}-x"))
            list(Payment.objects.filter(idempotency_key="k-0"))
            row_insert(Payment(**FIELDS, idempotency_key="k-0"))
    before = _runs_by_name()
    with transaction.atomic():
        row_insert(Payment(**FIELDS, idempotency_key="k-1"))
        row_insert(Payment(**FIELDS, idempotency_key="k-2"))
    assert Payment.objects.count() == 3
    assert _runs_by_name() == before + 2  # both by name, inside the transaction
    assert connection.connection._prepared._prepared_idx == 0  # psycopg's own


def test_postgresql_statements_survive_deallocate_all_inside_a_transaction():
    # Once psycopg has prepared a statement itself (someone's own cursor),
    # it may deallocate everything after a rollback: inside a transaction
    # our statements then go unnamed, as a missing name would abort it.
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements exist on PostgreSQL only")
    import psycopg

    row_insert(Payment(**FIELDS, idempotency_key="k-0"))  # prepared, autocommit
    psycopg.Cursor(connection.connection).execute("SELECT 1", prepare=True)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")  # as psycopg does after a rollback
        row_insert(Payment(**FIELDS, idempotency_key="k-1"))
        row_insert(Payment(**FIELDS, idempotency_key="k-2"))
    assert Payment.objects.count() == 3


@pytest.mark.parametrize("command", ["DISCARD ALL", "DEALLOCATE ALL"])
def test_a_transaction_begun_by_a_statement_deallocated_by_hand_still_runs(command):
    # The statement's pipeline began the transaction, so nothing else ran in
    # it: rolled back and sent again, prepared.
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements exist on PostgreSQL only")
    with transaction.atomic():
        row_insert(Payment(**FIELDS, idempotency_key="k-0"))  # named, prepared
    with connection.cursor() as cursor:
        cursor.execute(command)
    with transaction.atomic():
        row_insert(Payment(**FIELDS, idempotency_key="k-1"))
        row_insert(Payment(**FIELDS, idempotency_key="k-2"))
    assert Payment.objects.count() == 3
    assert _runs_by_name() == 2  # prepared again: the two after the command


def test_rows_select_loads_what_the_orm_loads():
    from integrations.failover import enabled_accounts
    from payments import selectors
    from tests.factories import ProviderAccountFactory

    ProviderAccountFactory(slug="b", priority=2, settings={"timeout": 3, "ü": [1]})
    ProviderAccountFactory(slug="a", priority=2)
    ProviderAccountFactory(slug="first", priority=1)
    ProviderAccountFactory(slug="off", priority=0, enabled=False)
    by_orm = enabled_accounts("payments")
    by_sql = selectors.enabled_accounts()
    assert [a.slug for a in by_sql] == [a.slug for a in by_orm] == ["first", "b", "a"]
    for mine, theirs in zip(by_sql, by_orm, strict=True):
        assert model_to_dict(mine) == model_to_dict(theirs)
        assert (mine.pk, mine.created_at, mine.updated_at) == (
            theirs.pk,
            theirs.created_at,
            theirs.updated_at,
        )
        assert mine.get_credentials() == theirs.get_credentials()
        assert not mine._state.adding and mine._state.db == "default"


def test_insert_later_waits_for_the_groups_commit_and_then_has_its_pk():
    payment = Payment(**FIELDS, idempotency_key="k-later")
    with commit_group():
        group_join()
        row_insert_later(payment)
        if connection.vendor == "postgresql":
            assert payment.pk is None  # waiting in the group
            assert not Payment.objects.using("default").exists()
        group_commit()
        assert payment.pk is not None
        assert not payment._state.adding
    by_orm = Payment.objects.create(**FIELDS, idempotency_key="k-orm")
    assert _row(payment) == _row(by_orm)


def test_insert_later_outside_a_group_is_written_at_once():
    payment = row_insert_later(Payment(**FIELDS, idempotency_key="k-now"))
    assert Payment.objects.filter(pk=payment.pk).exists()


def test_insert_later_conflicting_rolls_the_group_back():
    row_insert(Payment(**FIELDS, idempotency_key="k-taken"))
    with pytest.raises(IntegrityError), commit_group():
        group_join()
        row_insert(Payment(**FIELDS, idempotency_key="k-first"))
        row_insert_later(Payment(**FIELDS, idempotency_key="k-taken"))
        group_commit()
    assert list(Payment.objects.values_list("idempotency_key", flat=True)) == [
        "k-taken"
    ]


def test_foreign_keys_and_aware_datetimes_are_written_as_the_orm_writes_them():
    from datetime import UTC, datetime

    from tests.factories import ProviderAccountFactory

    account = ProviderAccountFactory()
    moment = datetime(2026, 12, 5, 9, 30, 15, 123456, tzinfo=UTC)
    fields = {**FIELDS, "account": account, "created_at": moment}
    by_orm = Payment.objects.create(**fields, idempotency_key="k-orm")
    by_sql = row_insert(Payment(**fields, idempotency_key="k-sql"))
    assert _row(by_sql) == _row(by_orm)
    fresh = Payment.objects.get(pk=by_sql.pk)
    assert fresh.account_id == account.pk
    assert fresh.created_at == moment
