"""integrations.commits reviewed: a group's hooks called from a thread that
runs a copy of the opener's context (integrations.fanout starts its threads
so) act on that thread's own connection, as before the group kept its
connection: never on the opener's, whose transaction only its thread ends."""

import contextvars
import threading

import pytest
from django.db import connection, connections

from integrations.commits import (
    commit_group,
    group_alone,
    group_commit,
    group_deferrable,
    group_join,
)
from integrations.models import IdempotencyRecord

pytestmark = pytest.mark.django_db(transaction=True)


def record(key: str) -> IdempotencyRecord:
    return IdempotencyRecord.objects.create(
        owner="test", key=key, method="POST", path="/", request_hash=""
    )


def in_a_copied_context(work):  # type: ignore[no-untyped-def]
    """``work()`` in a thread running a copy of this context; its result."""
    answer: list[object] = []
    context = contextvars.copy_context()

    def run() -> None:
        try:
            answer.append(context.run(work))
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return answer[0]


def test_a_thread_with_a_copy_of_the_context_cannot_end_the_group():
    with commit_group():
        group_join()
        record("a")

        def commit_from_there():  # type: ignore[no-untyped-def]
            group_commit()  # not its connection's block: it does nothing
            return group_alone(), group_deferrable()

        assert in_a_copied_context(commit_from_there) == (False, False)
        assert connection.in_atomic_block  # still the group's, still open
        record("b")
    assert not connection.in_atomic_block
    assert set(IdempotencyRecord.objects.values_list("key", flat=True)) == {"a", "b"}
