"""django-q2's real cluster (sentinel, pusher, workers, monitor) with the
project's broker class (``integrations.task_broker.RedisTaskBroker``) on the
local Redis: a task enqueued here runs there and its result is stored; a
one-off schedule (what a sandbox webhook the broker could not take becomes)
is queued once by two schedulers at once, then removed, and runs."""

import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Schedule, Task
from django_q.scheduler import scheduler
from django_q.tasks import async_task

from integrations.redis_line import outage
from integrations.task_batcher import shared_broker
from integrations.task_broker import RedisTaskBroker
from tests.integrations.real_cluster import start_cluster, stop_cluster

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[subprocess.Popen]:
    """A qcluster on the suite's Redis and this test's (committed) database.
    The suite runs tasks in the caller (Q_SYNC): here they go to the broker."""
    if connection.vendor != "postgresql":
        pytest.skip("the cluster reads this test's rows from PostgreSQL")
    broker = get_broker()
    assert isinstance(broker, RedisTaskBroker)
    broker.purge_queue()  # nothing another test left runs there
    outage.forget()
    shared_broker.cache_clear()
    monkeypatch.setattr(Conf, "SYNC", False)
    process = start_cluster()
    try:
        yield process
    finally:
        stop_cluster(process)
        connections.close_all()


def _result(task_id: str, process: subprocess.Popen, within: float = 30) -> Task:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (task := Task.objects.filter(id=task_id).first()) is not None:
            return task
        assert process.poll() is None, process.stdout.read().decode()[-2000:]
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} did not run within {within} s")


def test_a_task_enqueued_on_the_project_broker_runs_in_a_real_cluster(cluster):
    task_id = async_task("math.floor", 2.5, broker=shared_broker())
    task = _result(task_id, cluster)
    assert task.success, task.result
    assert task.result == 2


def test_a_one_off_schedule_is_queued_once_by_two_schedulers_and_removed(cluster):
    row = Schedule.objects.create(
        name="revcore24 once",
        func="math.floor",
        args="(3.5,)",
        schedule_type=Schedule.ONCE,
        next_run=timezone.now() - timedelta(seconds=1),
        repeats=-1,
    )
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        try:
            scheduler(broker=get_broker())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not Schedule.objects.filter(pk=row.pk).exists()
    deadline = time.monotonic() + 30
    while not Task.objects.filter(group="revcore24 once").exists():
        assert time.monotonic() < deadline, "the scheduled task did not run"
        time.sleep(0.2)
    time.sleep(2)  # a second copy, had one been queued, runs as fast
    runs = Task.objects.filter(group="revcore24 once")
    assert [(t.success, t.result) for t in runs] == [(True, 3)]
