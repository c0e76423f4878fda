"""Staff resubmit failed tasks and the broker takes some, refuses others
(Redis fills up part way): the message counts the ones kept, out of the
ones claimed, and the ones queued are gone from the failures; one task
refused reads as one task, not "1 of 1 tasks ... they"."""

from collections.abc import Iterator

import pytest
from django_q.models import Failure

from integrations.task_batcher import shared_broker
from tests.integrations.redis_refusing import OOM, Refusing
from tests.integrations.test_core26_resubmit_outage import (
    _failures,
    _staff_client,
    _use_broker_at,
)

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


class FillsUp(Refusing):
    """Takes the first ``room`` pushes, then answers OOM."""

    def __init__(self, room: int) -> None:
        super().__init__(OOM)
        self.room = room

    def _reply(self, command: list[bytes]) -> bytes:
        if command and command[0].upper() == b"RPUSH" and self.room > 0:
            self.room -= 1
            return b":1\r\n"
        return super()._reply(command)


@pytest.fixture
def fills_up(request, monkeypatch) -> Iterator[FillsUp]:
    server = FillsUp(request.param)
    _use_broker_at(monkeypatch, server.url())
    yield server
    server.close()
    shared_broker.cache_clear()


def _resubmit(tasks: list[Failure]) -> str:
    page = _staff_client().post(
        "/admin/django_q/failure/",
        {
            "action": "resubmit_failed",
            "index": "0",
            "_selected_action": [t.pk for t in tasks],
        },
        follow=True,
    )
    assert page.status_code == 200
    return page.content.decode()


@pytest.mark.parametrize("fills_up", [1], indirect=True)
def test_some_queued_some_kept_counts_the_kept(fills_up):
    page = _resubmit(_failures())  # three
    assert "2 of 3 tasks could not be queued" in page
    assert Failure.objects.count() == 2


@pytest.mark.parametrize("fills_up", [0], indirect=True)
def test_one_task_refused_reads_as_one(fills_up):
    tasks = _failures()
    page = _resubmit(tasks[:1])
    assert Failure.objects.count() == len(tasks)  # the refused one kept
    assert "The task could not be queued" in page
    assert "1 of 1 tasks" not in page
