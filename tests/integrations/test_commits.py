"""integrations.commits: joined writes share commits; a group inside a
caller's transaction leaves every commit to it."""

import pytest
from django.db import connection, transaction

from integrations.commits import commit_group, group_commit, group_held, group_join
from integrations.models import IdempotencyRecord

pytestmark = pytest.mark.django_db(transaction=True)


def record(key: str) -> IdempotencyRecord:
    return IdempotencyRecord.objects.create(
        owner="test", key=key, method="POST", path="/", request_hash=""
    )


def test_joined_writes_commit_together_at_the_durable_point():
    with commit_group():
        group_join()
        record("a")
        record("b")
        assert connection.in_atomic_block
        group_commit()  # what a provider call would wait for
        assert not connection.in_atomic_block and not group_held()
        group_join()
        record("c")
    assert not connection.in_atomic_block
    assert set(IdempotencyRecord.objects.values_list("key", flat=True)) == {
        "a",
        "b",
        "c",
    }


def test_an_exception_rolls_back_only_what_is_not_yet_committed():
    with pytest.raises(SystemExit), commit_group():
        group_join()
        record("kept")
        group_commit()
        group_join()
        record("lost")
        raise SystemExit
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["kept"]


def test_outside_a_group_the_hooks_do_nothing():
    group_join()
    assert not connection.in_atomic_block
    record("alone")
    group_commit()
    assert IdempotencyRecord.objects.filter(key="alone").exists()


def test_inside_a_callers_transaction_it_decides():
    with pytest.raises(RuntimeError), transaction.atomic():
        with commit_group():
            group_join()
            record("theirs")
            group_commit()  # not ours to commit
        raise RuntimeError
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("end", ["group_commit", "group_end"])
def test_an_on_commit_hook_runs_outside_the_group(end):
    # A hook that writes as a grouped service would (a task run inline, as
    # django-q's sync mode does) commits on its own and leaves no block open.
    def hook():
        group_join()
        record("hook")

    with commit_group():
        group_join()
        record("a")
        transaction.on_commit(hook)
        if end == "group_commit":
            group_commit()
            assert not group_held() and not connection.in_atomic_block
    assert not connection.in_atomic_block
    assert IdempotencyRecord.objects.filter(key="hook").exists()
