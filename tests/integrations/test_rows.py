"""``integrations.rows``: rows locked in one fixed order, and bulk upserts."""

import threading
import time

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import OperationalError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from integrations.rows import bulk_upsert, lock_rows
from payments.models import SavedPaymentMethod

pytestmark = pytest.mark.django_db


def _groups(*names: str) -> list[Group]:
    return [Group.objects.create(name=name) for name in names]


def test_lock_rows_returns_rows_in_key_order_whatever_the_given_order():
    a, b, c = _groups("a", "b", "c")
    with transaction.atomic():
        locked = lock_rows(Group, [c.pk, a.pk, b.pk, a.pk])
    assert list(locked) == [a.pk, b.pk, c.pk]
    assert [row.name for row in locked.values()] == ["a", "b", "c"]


def test_lock_rows_by_another_unique_field_and_queryset():
    _groups("x", "y", "z")
    with transaction.atomic():
        locked = lock_rows(
            Group.objects.exclude(name="y"), ["z", "y", "x"], field="name"
        )
    assert list(locked) == ["x", "z"]
    assert locked["z"].name == "z"


def test_lock_rows_leaves_out_missing_keys_and_converts_keys():
    (a,) = _groups("a")
    with transaction.atomic():
        locked = lock_rows(Group, [str(a.pk), a.pk + 1000, None])
        assert lock_rows(Group, []) == {}
    assert list(locked) == [a.pk]


def test_lock_rows_refuses_a_field_that_is_not_unique():
    with transaction.atomic(), pytest.raises(ValueError, match="not unique"):
        lock_rows(Permission, ["x"], field="codename")
    with pytest.raises(TypeError):
        lock_rows("auth.Group", [1])  # type: ignore[arg-type]


@pytest.mark.django_db(transaction=True)
def test_lock_rows_outside_a_transaction_is_a_clear_error():
    (a,) = _groups("a")
    with pytest.raises(TransactionManagementError, match=r"transaction\.atomic"):
        lock_rows(Group, [a.pk])


@pytest.mark.postgres
def test_lock_rows_is_one_ordered_select_for_update_on_postgresql():
    a, b = _groups("a", "b")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        lock_rows(Group, [b.pk, a.pk], nowait=True)
    (sql,) = [q["sql"] for q in queries.captured_queries]
    assert "ORDER BY" in sql and sql.rstrip().endswith("FOR UPDATE NOWAIT")


# --- racing lockers on PostgreSQL -----------------------------------------

ROUNDS = 40
ROWS = 200


def _race(work_a, work_b) -> list[BaseException]:
    """Run both callables ROUNDS times, started together each round."""
    barrier = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def loop(work) -> None:
        try:
            for _ in range(ROUNDS):
                barrier.wait()
                work()
        except threading.BrokenBarrierError:
            pass
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=loop, args=(w,)) for w in (work_a, work_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_opposite_order_lockers_never_deadlock_and_exclude_each_other():
    """Two lockers of the same rows, given in opposite orders and read through
    different plans (an index scan in key order; a sequential scan in the
    table's order, which is the reverse): without the ORDER BY each would lock
    in its plan's order, and they would deadlock."""
    keys = list(range(9001, 9001 + ROWS))
    # Highest key first, so the table's order is the reverse of the keys'; the
    # lockers never update the rows, which would move them.
    Group.objects.bulk_create(Group(pk=k, name=f"row-{k}") for k in reversed(keys))
    holders: list[int] = []
    overlaps: list[int] = []

    def locker(order: list[int], plan: str):
        def work() -> None:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(plan)
                rows = lock_rows(Group, order)
                holders.append(len(rows))
                if len(holders) > 1:
                    overlaps.append(len(holders))
                time.sleep(0.002)  # hold the locks while the other one queues
                holders.pop()

        return work

    index_scan = "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off"
    table_scan = "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off"
    errors = _race(locker(keys, index_scan), locker(keys[::-1], table_scan))
    assert errors == []
    assert overlaps == []  # never both holding the rows at once


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_locking_one_row_at_a_time_in_the_given_order_can_deadlock():
    """The contrast: what lock_rows exists to prevent."""
    first, second = (group.pk for group in _groups("p:0", "q:0"))
    barrier = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def locker(order: tuple[int, int]) -> None:
        try:
            with transaction.atomic():
                Group.objects.select_for_update().get(pk=order[0])
                barrier.wait()
                Group.objects.select_for_update().get(pk=order[1])
        except OperationalError as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=locker, args=(order,))
        for order in ((first, second), (second, first))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(errors) == 1
    assert "deadlock" in str(errors[0])


# --- bulk_upsert ------------------------------------------------------------


@pytest.fixture
def content_type() -> ContentType:
    return ContentType.objects.create(app_label="rows_test", model="thing")


def _perm(content_type: ContentType, codename: str, name: str) -> dict:
    return {"content_type": content_type, "codename": codename, "name": name}


def _names(content_type: ContentType) -> dict[str, str]:
    rows = Permission.objects.filter(content_type=content_type)
    return dict(rows.values_list("codename", "name"))


UPSERT = {"unique_fields": ["content_type", "codename"], "update_fields": ["name"]}


def test_bulk_upsert_inserts_then_updates_and_is_idempotent(content_type):
    first = [_perm(content_type, c, f"{c} v1") for c in ("a", "b")]
    assert bulk_upsert(Permission, first, **UPSERT) == 2
    second = [_perm(content_type, "b", "b v2"), _perm(content_type, "c", "c v2")]
    assert bulk_upsert(Permission, second, **UPSERT) == 2
    before = list(Permission.objects.filter(content_type=content_type).values())
    assert bulk_upsert(Permission, second, **UPSERT) == 2
    assert _names(content_type) == {"a": "a v1", "b": "b v2", "c": "c v2"}
    after = list(Permission.objects.filter(content_type=content_type).values())
    assert after == before  # same rows, same ids: nothing duplicated


def test_bulk_upsert_writes_in_batches(content_type):
    rows = [_perm(content_type, f"p{i}", f"n{i}") for i in range(5)]
    with CaptureQueriesContext(connection) as queries:
        written = bulk_upsert(Permission, rows, batch_size=2, **UPSERT)
    inserts = [q for q in queries.captured_queries if "INSERT" in q["sql"]]
    assert written == 5
    assert len(inserts) == 3
    assert all("ON CONFLICT" in q["sql"] for q in inserts)
    assert len(_names(content_type)) == 5


def test_bulk_upsert_keeps_the_last_of_repeated_keys(content_type):
    rows = [
        _perm(content_type, "dup", "first"),
        Permission(content_type=content_type, codename="one", name="only"),
        _perm(content_type, "dup", "last"),
    ]
    assert bulk_upsert(Permission, rows, batch_size=3, **UPSERT) == 2
    assert _names(content_type) == {"dup": "last", "one": "only"}


def test_bulk_upsert_with_nothing_writes_nothing(content_type):
    with CaptureQueriesContext(connection) as queries:
        assert bulk_upsert(Permission, [], **UPSERT) == 0
    assert queries.captured_queries == []


@pytest.mark.parametrize(
    ("unique_fields", "message"),
    [
        (["codename"], "not the fields of one unique constraint"),
        (["name"], "not the fields of one unique constraint"),
        ([], "not the fields of one unique constraint"),
    ],
)
def test_bulk_upsert_needs_a_unique_constraint(content_type, unique_fields, message):
    row = _perm(content_type, "a", "a")
    with pytest.raises(ValueError, match=message):
        bulk_upsert(
            Permission, [row], unique_fields=unique_fields, update_fields=["name"]
        )
    assert _names(content_type) == {}


def test_bulk_upsert_refuses_a_conditional_constraint_and_bad_arguments():
    with pytest.raises(ValueError, match="conditional"):
        bulk_upsert(
            SavedPaymentMethod,
            [],
            unique_fields=["customer_reference"],
            update_fields=["card_last4"],
        )
    with pytest.raises(ValueError, match="update_fields"):
        bulk_upsert(Permission, [], unique_fields=["pk"], update_fields=[])
    with pytest.raises(ValueError, match="batch_size"):
        bulk_upsert(Permission, [], batch_size=0, **UPSERT)
    with pytest.raises(TypeError, match="Permission or dicts"):
        bulk_upsert(Permission, [Group(name="x")], **UPSERT)


def test_bulk_upsert_by_a_single_unique_field():
    (group,) = _groups("ops")
    rows = [{"name": "ops"}, {"name": "sales"}]
    assert bulk_upsert(Group, rows, unique_fields=["name"], update_fields=["name"]) == 2
    assert Group.objects.get(name="ops").pk == group.pk
    assert set(Group.objects.values_list("name", flat=True)) == {"ops", "sales"}
