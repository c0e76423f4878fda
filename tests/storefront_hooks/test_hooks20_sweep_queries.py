"""The sweep reads the due rows of every endpoint in a bounded number of
database queries, however many endpoints there are, and still shares its
batch among them in turns. With Redis as the cache, where each endpoint's
breaker is read (the database cache would add its reads to the count)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from storefront_hooks import services
from tests.storefront_hooks.cap_setup import due_rows, swept

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

# The sweep's statements: its clock, the endpoints, lost claims, the age
# limit, the due rows. None of them per endpoint.
MOST_QUERIES = 5


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    return swept(monkeypatch)


def _swept_queries() -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        count = services.deliveries_sweep()
    return count, len(captured.captured_queries)


def test_fifty_endpoints_are_swept_in_a_bounded_number_of_queries(
    settings, make_endpoint, queued
):
    settings.STOREFRONT_WEBHOOK_SWEEP_BATCH = 500
    endpoints = [make_endpoint()[0] for _ in range(50)]
    due = [due_rows(e, 2, age_minutes=10) for e in endpoints]
    # Endpoints with nothing due are read too (their breakers are asked).
    for _ in range(5):
        make_endpoint()

    count, queries = _swept_queries()

    # Before: one query per endpoint (55 and more).
    assert queries <= MOST_QUERIES, queries
    assert count == 100
    assert sorted(queued) == sorted(pk for rows in due for pk in rows)


def test_the_turns_hold_across_many_endpoints(settings, make_endpoint, queued):
    settings.STOREFRONT_WEBHOOK_SWEEP_BATCH = 60
    backlog = due_rows(make_endpoint()[0], 100, age_minutes=60)
    others = [due_rows(make_endpoint()[0], 3, age_minutes=5) for _ in range(40)]

    count, queries = _swept_queries()

    assert queries <= MOST_QUERIES, queries
    assert count == 60
    # First turn: each endpoint's oldest (41 rows); the second turn, older
    # first: the backlog's next, then 18 of the others' second rows.
    assert set(queued[:41]) == {backlog[0]} | {rows[0] for rows in others}
    assert queued[0] == backlog[0]
    assert queued[41] == backlog[1]
    assert [pk for pk in queued if pk in backlog] == backlog[:2]
    seconds = queued[42:]
    assert len(seconds) == 18
    assert all(pk in {rows[1] for rows in others} for pk in seconds)
