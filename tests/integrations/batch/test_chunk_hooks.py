"""A handler's chunk hooks (``prepare_chunk`` / ``finish_chunk``: read once
per chunk what its rows need, write once what they made) and relaxed
commits (``relaxed_done``, ``relaxed_commit``), through the public batch API."""

import logging

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from integrations.batch import (
    batch_job_create,
    batch_job_work,
    own_transactions,
    relaxed_commit,
    relaxed_done,
)
from integrations.models import BatchItem, BatchRowStatus
from tests.integrations.batch.handlers import effects, record

HERE = "tests.integrations.batch.test_chunk_hooks"
CALLS: list[tuple[str, list[str]]] = []


def hooked(row: BatchItem) -> None:
    CALLS.append(("row", [row.key]))
    record(row)


def _prepare(rows: list[BatchItem]) -> None:
    assert all(row.job is not None for row in rows)
    CALLS.append(("prepare", [row.key for row in rows]))


def _finish(rows: list[BatchItem]) -> None:
    CALLS.append(("finish", [row.key for row in rows]))


hooked.prepare_chunk = _prepare  # type: ignore[attr-defined]
hooked.finish_chunk = _finish  # type: ignore[attr-defined]


def broken_hooks(row: BatchItem) -> None:
    record(row)


def _explode(rows: list[BatchItem]) -> None:
    raise RuntimeError("hook failed")


broken_hooks.prepare_chunk = _explode  # type: ignore[attr-defined]
broken_hooks.finish_chunk = _explode  # type: ignore[attr-defined]


@relaxed_done
@own_transactions
def relaxed(row: BatchItem) -> None:
    record(row)


def _job(n: int, handler: str, chunk_size: int):
    items = [(f"k{i}", {}) for i in range(n)]
    return batch_job_create(
        kind="test.hooks",
        handler=f"{HERE}.{handler}",
        items=items,
        chunk_size=chunk_size,
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("enqueued")
def test_the_hooks_run_once_per_chunk_around_its_rows() -> None:
    CALLS.clear()
    job = _job(5, "hooked", chunk_size=2)

    batch_job_work(job_id=job.pk, budget_seconds=60)

    assert CALLS == [
        ("prepare", ["k0", "k1"]),
        ("row", ["k0"]),
        ("row", ["k1"]),
        ("finish", ["k0", "k1"]),
        ("prepare", ["k2", "k3"]),
        ("row", ["k2"]),
        ("row", ["k3"]),
        ("finish", ["k2", "k3"]),
        ("prepare", ["k4"]),
        ("row", ["k4"]),
        ("finish", ["k4"]),
    ]
    assert effects(job.pk) == {f"k{i}": 1 for i in range(5)}


@pytest.mark.django_db
@pytest.mark.usefixtures("enqueued")
def test_a_failing_hook_is_logged_and_every_row_still_done(caplog) -> None:
    job = _job(3, "broken_hooks", chunk_size=2)

    with caplog.at_level(logging.ERROR, logger="integrations.batch.work"):
        batch_job_work(job_id=job.pk, budget_seconds=60)

    statuses = set(BatchItem.objects.filter(job=job).values_list("status", flat=True))
    assert statuses == {BatchRowStatus.DONE}
    assert effects(job.pk) == {"k0": 1, "k1": 1, "k2": 1}
    failed = [r for r in caplog.records if r.getMessage() == "batch chunk hook failed"]
    assert [r.hook for r in failed] == ["prepare_chunk", "finish_chunk"] * 2


@pytest.mark.django_db
@pytest.mark.usefixtures("enqueued")
def test_a_relaxed_done_handler_settles_its_rows_once() -> None:
    job = _job(4, "relaxed", chunk_size=3)

    batch_job_work(job_id=job.pk, budget_seconds=60)
    batch_job_work(job_id=job.pk, budget_seconds=60)

    rows = BatchItem.objects.filter(job=job)
    assert set(rows.values_list("status", flat=True)) == {BatchRowStatus.DONE}
    assert effects(job.pk) == {f"k{i}": 1 for i in range(4)}
    job.refresh_from_db()
    assert (job.status, job.done) == ("done", 4)


@pytest.mark.django_db
@pytest.mark.usefixtures("enqueued")
def test_a_relaxed_chunk_in_a_transaction_sees_a_lost_lease() -> None:
    # Inside a caller's transaction (and on SQLite) the chunk's dones go
    # through the ORM: a row whose lease was taken back is not marked.
    job = _job(3, "relaxed_lease_lost", chunk_size=3)

    result = batch_job_work(job_id=job.pk, budget_seconds=0)

    assert (result.done, result.lost) == (2, 1)
    rows = dict(BatchItem.objects.filter(job=job).values_list("key", "status"))
    assert rows["k1"] == BatchRowStatus.PENDING
    job.refresh_from_db()
    assert job.done == 2


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_relaxed_commit_turns_the_flush_wait_off_for_its_transaction_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    with relaxed_commit():
        inside = _synchronous_commit()
        BatchItem.objects.none().exists()
    assert inside == "off"
    assert _synchronous_commit() == "on"
    with transaction.atomic(), relaxed_commit():
        # A caller's transaction decides how it commits.
        assert _synchronous_commit() == "on"


@relaxed_done
@own_transactions
def relaxed_lease_lost(row: BatchItem) -> None:
    record(row)
    if row.key == "k1":  # the sweeper took the row back meanwhile
        BatchItem.objects.filter(pk=row.pk).update(
            status=BatchRowStatus.PENDING, claimed_at=None
        )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("enqueued")
def test_on_postgresql_relaxed_dones_are_one_statement_per_chunk_and_see_a_lost_lease():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement done is PostgreSQL's")
    job = _job(3, "relaxed_lease_lost", chunk_size=3)

    with CaptureQueriesContext(connection) as captured:
        result = batch_job_work(job_id=job.pk, budget_seconds=0)

    assert (result.done, result.lost) == (2, 1)
    relaxed_updates = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("UPDATE") and "set_config" in q["sql"]
    ]
    # The chunk's three rows marked done together, at its end.
    assert len(relaxed_updates) == 1
    rows = dict(BatchItem.objects.filter(job=job).values_list("key", "status"))
    assert rows == {
        "k0": BatchRowStatus.DONE,
        "k1": BatchRowStatus.PENDING,
        "k2": BatchRowStatus.DONE,
    }


NOW = {"t": 0.0}
SEEN_DONE: list[list[str]] = []


@relaxed_done
@own_transactions
def slow_relaxed(row: BatchItem) -> None:
    # What a worker killed now would leave done, then a row taking 1.5 s.
    done = BatchItem.objects.filter(job_id=row.job_id, status=BatchRowStatus.DONE)
    SEEN_DONE.append(sorted(done.values_list("key", flat=True)))
    record(row)
    NOW["t"] += 1.5


@pytest.mark.django_db
@pytest.mark.usefixtures("enqueued")
def test_a_slow_relaxed_chunk_marks_its_rows_done_every_second() -> None:
    SEEN_DONE.clear()
    NOW["t"] = 0.0
    job = _job(3, "slow_relaxed", chunk_size=3)

    result = batch_job_work(
        job_id=job.pk, budget_seconds=60, clock=lambda: NOW["t"], sleep=lambda s: None
    )

    assert result.done == 3
    # Each row found the ones before it done: a kill loses a second's dones.
    assert SEEN_DONE == [[], ["k0"], ["k0", "k1"]]
