"""The one-probe race between OS processes holds however the machine's load
schedules them: a racer descheduled just before a knock at the deadline
knocks after it, and must still be refused (the probe holder reports back
only once every racer stopped knocking, not after a fixed grace time)."""

import uuid
from collections.abc import Iterator

import pytest

from integrations.breaker import breaker_for
from tests.factories import ProviderAccountFactory
from tests.integrations.breaker.test_multiprocess import Workers, _job, _release

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    forker = Workers(tmp_path_factory.mktemp("core20-race"))
    try:
        yield forker
    finally:
        forker.close()


def test_a_racer_descheduled_at_the_deadline_is_still_refused(workers):
    account = ProviderAccountFactory(
        settings={
            "breaker_consecutive_failures": 3,
            "breaker_open_seconds": 1.0,
            "breaker_probe_timeout_seconds": 30,
        }
    )
    assert workers.run(_job(account, "trip"))["state"] == "open"
    opened_until = breaker_for(account).snapshot().opened_until.timestamp()
    barrier = f"core20-race-{uuid.uuid4().hex}"
    job = _job(account, "race", barrier=barrier, seconds=1.0, parties=2, stall=0.5)
    racers = [workers.start(job) for _ in range(2)]
    _release(barrier, parties=len(racers), not_before=opened_until)
    results = [workers.result(name) for name in racers]
    assert sum(r["passed"] for r in results) == 1, results
    assert all(r["refused"] > 0 for r in results if not r["passed"]), results
    assert breaker_for(account).snapshot().state == "closed"
