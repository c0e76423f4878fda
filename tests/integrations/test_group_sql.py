"""``integrations.group_sql``: inside a commit group on PostgreSQL a write
may wait for the group's next statement or its commit; it always commits in
the same transaction, is dropped with a rollback, and never waits behind a
savepoint or outside a group (SQLite: everything at once)."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from integrations.commits import (
    commit_group,
    group_commit,
    group_join,
    group_rollback,
)
from integrations.models import Event, IdempotencyRecord
from integrations.row_sql import row_insert, row_update, row_update_later

pytestmark = pytest.mark.django_db(transaction=True)


def record(key: str) -> IdempotencyRecord:
    return row_insert(
        IdempotencyRecord(
            owner="test",
            key=key,
            method="POST",
            path="/",
            request_hash="h",
            state="in_flight",
        )
    )


def completed(row: IdempotencyRecord, status: int = 201) -> IdempotencyRecord:
    row.state, row.response_status = "completed", status
    return row


def states() -> dict[str, tuple[str, int | None]]:
    rows = IdempotencyRecord.objects.values_list("key", "state", "response_status")
    return {key: (state, status) for key, state, status in rows}


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


def test_a_waiting_write_rides_with_the_next_statement():
    a, b = record("a"), record("b")
    seen: list[bool] = []
    with CaptureQueriesContext(connection) as captured, commit_group():
        group_join()
        row_update_later(completed(a), ["state", "response_status"])
        row_update_later(completed(b, 402), ["state"], then=seen.append)
        record("c")  # carries a's write; b's wants its result: the commit
    sent = [q["sql"] for q in captured.captured_queries]
    assert states() == {
        "a": ("completed", 201),
        "b": ("completed", None),
        "c": ("in_flight", None),
    }
    assert seen == [True]
    if _postgresql():
        writes = [s for s in sent if "idempotencyrecord" in s]
        assert len(writes) == 2, writes  # c with a's update; b's with the commit


def test_a_rolled_back_group_drops_what_waits():
    a = record("a")
    seen: list[bool] = []
    with pytest.raises(SystemExit), commit_group():
        group_join()
        row_update_later(completed(a), ["state"], then=seen.append)
        raise SystemExit
    assert states() == {"a": ("in_flight", None)}
    assert seen == [] if _postgresql() else seen == [True]


def test_group_rollback_drops_what_waits():
    a = record("a")
    with commit_group():
        group_join()
        row_update_later(completed(a), ["state"])
        group_rollback()
        group_join()
        record("b")
    assert states() == {"a": ("in_flight", None), "b": ("in_flight", None)}


def test_the_durable_point_sends_what_waits_before_committing():
    a = record("a")
    with commit_group():
        group_join()
        row_update_later(completed(a), ["state"])
        group_commit()
        assert states()["a"] == ("completed", None)
        assert not connection.in_atomic_block


def test_a_savepoint_makes_writes_go_at_once():
    a, b = record("a"), record("b")
    with commit_group():
        group_join()
        with transaction.atomic():  # a savepoint inside the group
            row_update_later(completed(a), ["state"])
            with pytest.raises(IntegrityError), transaction.atomic():
                record("b")  # conflicts; its savepoint rolls back
        row_update_later(completed(b), ["state"])
    assert states() == {"a": ("completed", None), "b": ("completed", None)}


def test_a_failing_waiting_write_rolls_the_group_back():
    a = record("a")
    a.key = "taken"
    record("taken")
    with pytest.raises(IntegrityError), commit_group():
        group_join()
        record("new")
        row_update_later(a, ["key"], then=lambda matched: None)
    assert set(states()) == {"a", "taken"}  # "new" went with the rollback
    assert not connection.in_atomic_block


def test_guarded_update_returns_whether_it_matched_with_riders():
    a, b = record("a"), record("b")
    with commit_group():
        group_join()
        row_update_later(completed(a), ["state"])
        assert not row_update(completed(b), ["state"], where={"state": "completed"})
        assert row_update(b, ["response_status"], where={"state": "in_flight"})
    assert states() == {"a": ("completed", None), "b": ("in_flight", 201)}


def test_outside_a_group_a_write_goes_at_once():
    a = record("a")
    seen: list[bool] = []
    row_update_later(completed(a), ["state"], then=seen.append)
    assert seen == [True]
    assert states()["a"] == ("completed", None)
    assert not Event.objects.exists()


def _attempt(payment, account_pk: int, key: str):
    from payments.models import PaymentAttempt

    return PaymentAttempt(
        payment=payment,
        account_id=account_pk,
        operation="authorize",
        idempotency_key=key,
    )


def test_a_foreign_key_refused_at_the_riding_commit_commits_nothing():
    from integrations.row_sql import row_insert_later
    from payments.models import Payment, PaymentAttempt
    from tests.factories import ProviderAccountFactory

    account = ProviderAccountFactory()
    hooks = []
    with pytest.raises(IntegrityError), commit_group():
        group_join()
        payment = row_insert(
            Payment(order_id="o", amount=1050, currency="EUR", idempotency_key="k")
        )
        transaction.on_commit(lambda: hooks.append("ran"))
        # The foreign keys are checked at COMMIT (DEFERRABLE INITIALLY DEFERRED).
        row_insert_later(_attempt(payment, account.pk + 999, "a-1"))
        group_commit()

    assert hooks == []
    assert not Payment.objects.exists() and not PaymentAttempt.objects.exists()
    assert not connection.in_atomic_block
    record("after")  # the connection goes on


def test_a_result_handed_over_after_the_commit_never_undoes_it():
    from integrations import group_sql

    if not _postgresql():
        pytest.skip("elsewhere a write and its result go at once, in the transaction")
    hooks = []

    def fails(_value) -> None:
        raise RuntimeError("a result's consumer failed")

    with pytest.raises(RuntimeError), commit_group():
        group_join()
        record("kept")
        transaction.on_commit(lambda: hooks.append("ran"))
        group_sql.defer(
            group_sql.Write(
                clauses=(("s", "SELECT 1 AS x"),),
                params=(),
                results=("(SELECT x FROM {s})",),
                on_result=fails,
                apart=lambda: (1,),
            )
        )

    assert "kept" in states()  # committed, and said so: the hooks ran
    assert hooks == ["ran"]


def test_an_attempt_inside_a_nested_block_still_records_its_outcome():
    from integrations.attempts import attempt_run
    from payments.models import Payment, PaymentAttempt
    from tests.factories import ProviderAccountFactory

    account = ProviderAccountFactory()
    payment = Payment.objects.create(
        order_id="o", amount=1050, currency="EUR", idempotency_key="k"
    )
    with commit_group():
        group_join()
        with transaction.atomic(savepoint=False):
            attempt_run(
                PaymentAttempt,
                owner={"payment": payment},
                account=account,
                operation="authorize",
                idempotency_key="a-1",
                call=lambda key: object(),
            )

    (attempt,) = PaymentAttempt.objects.all()
    assert attempt.outcome == "succeeded" and attempt.finished_at is not None
