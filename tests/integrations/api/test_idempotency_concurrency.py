"""Concurrent requests with one Idempotency-Key on PostgreSQL: the handler
runs once. Real threads, real connections, committed transactions."""

import threading
from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from rest_framework.test import APIClient

from integrations.models import IdempotencyRecord
from tests.factories import ApiKeyFactory
from tests.integrations.api import views
from tests.integrations.api.conftest import TEST_URLS
from tests.integrations.api.helpers import assert_error

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls(TEST_URLS),
]

GROUPS = "/api/v1/test/groups/"
WAIT = 10


def _in_thread(target: Callable[[], object], results: list) -> threading.Thread:
    def run() -> None:
        try:
            results.append(target())
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.fixture
def post() -> Callable[[str, str], object]:
    raw_key = ApiKeyFactory(scopes=["inventory:write"]).raw_key

    def send(name: str, key: str):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        return client.post(GROUPS, {"name": name}, HTTP_IDEMPOTENCY_KEY=key)

    return send


def test_second_request_while_first_in_flight_gets_409_then_replay(post):
    inside, release = threading.Event(), threading.Event()

    def block(request):
        inside.set()
        assert release.wait(WAIT)

    views.hooks["during"] = block
    results: list = []
    thread = _in_thread(lambda: post("alpha", "k"), results)
    try:
        assert inside.wait(WAIT), "first request never reached its handler"
        # The first request's record is committed though its handler is running.
        assert IdempotencyRecord.objects.get().state == "in_flight"
        assert_error(
            post("alpha", "k"), 409, "idempotency_key_in_use", "Idempotency-Key"
        )
    finally:
        release.set()
        thread.join(WAIT)
    assert results[0].status_code == 201
    replay = post("alpha", "k")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert Group.objects.count() == 1


@pytest.mark.parametrize("round_", range(3))
def test_racing_requests_run_the_handler_once(post, round_):
    start = threading.Barrier(2)

    def racer():
        start.wait(WAIT)
        return post("beta", f"race-{round_}")

    views.hooks["during"] = lambda request: threading.Event().wait(0.2)
    results: list = []
    threads = [_in_thread(racer, results) for _ in range(2)]
    for thread in threads:
        thread.join(WAIT)
    statuses = sorted(r.status_code for r in results)
    assert statuses in ([201, 201], [201, 409]), statuses
    if statuses == [201, 201]:
        # Only possible if one finished first; then the other is a replay.
        assert sum(r.has_header("Idempotent-Replayed") for r in results) == 1
    assert Group.objects.filter(name="beta").count() == 1
