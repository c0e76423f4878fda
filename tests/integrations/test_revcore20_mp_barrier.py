"""A multi-process worker waiting at a start barrier the test never
releases (the test failed or was interrupted first) gives up with an error
instead of polling Redis forever: an orphan left behind in CI outlives the
run and the forker's close."""

import uuid
from collections.abc import Iterator

import pytest

from tests.factories import ProviderAccountFactory
from tests.integrations.breaker.test_multiprocess import Workers, _job

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    forker = Workers(tmp_path_factory.mktemp("revcore20-barrier"))
    try:
        yield forker
    finally:
        forker.close()


def test_a_barrier_never_released_gives_up(workers):
    account = ProviderAccountFactory()
    barrier = f"revcore20-never-{uuid.uuid4().hex}"
    job = _job(account, "rate", barrier=barrier, seconds=0.1, barrier_wait=0.5)
    with pytest.raises(AssertionError, match="never released"):
        workers.run(job)
