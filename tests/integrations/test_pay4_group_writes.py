"""Issue 17 (pay4): a commit group's waiting writes cost fewer Python calls
(their CTE text built once per shape; one deferrability check a write) and
still behave as before: renamed per position, kept only inside a group."""

import pytest

from integrations.commits import commit_group, group_defer, group_join
from integrations.group_sql import Write


def _write(params: tuple) -> Write:
    return Write(
        clauses=(("i", "INSERT INTO t (a) VALUES (%s) RETURNING id"),),
        params=params,
        results=("(SELECT id FROM {i})",),
    )


def test_named_text_per_position_and_the_cache_cannot_be_spoiled():
    first, second = _write((1,)), _write((2,))
    parts, results = first.named(0)
    assert parts == ["w0_i AS (INSERT INTO t (a) VALUES (%s) RETURNING id)"]
    assert results == ["(SELECT id FROM w0_i)"]
    parts.append("spoiled")  # a caller's list: the cached text stays intact
    assert second.named(0) == (
        ["w0_i AS (INSERT INTO t (a) VALUES (%s) RETURNING id)"],
        ["(SELECT id FROM w0_i)"],
    )
    assert second.named(1)[0] == [
        "w1_i AS (INSERT INTO t (a) VALUES (%s) RETURNING id)"
    ]


def test_defer_keeps_nothing_outside_a_group():
    assert group_defer(_write((1,))) is False


@pytest.mark.django_db(transaction=True)
def test_defer_keeps_the_write_inside_a_groups_transaction():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("writes wait only on PostgreSQL")
    with pytest.raises(RuntimeError), commit_group():
        assert group_defer(_write((1,))) is False  # no transaction yet
        group_join()
        assert group_defer(_write((1,))) is True
        raise RuntimeError("rolled back: the waiting write is dropped")
