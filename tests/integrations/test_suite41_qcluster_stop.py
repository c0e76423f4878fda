"""The real cluster's stop in the tests (tests/integrations/real_cluster.py):
orderly, as ``docker stop`` makes it, and whole. A SIGTERM to the cluster's
process group instead killed the sentinel under the cluster's handler on a
busy machine: the handler then waited for ever, and each such teardown took
its full 30 s before a SIGKILL."""

import os
import time

import pytest
from django.db import connection, connections
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Task
from django_q.tasks import async_task

from integrations.redis_line import outage
from integrations.task_batcher import shared_broker
from tests.integrations.real_cluster import start_cluster, stop_cluster

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_a_running_cluster_stops_in_order_and_leaves_no_process(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the cluster reads this test's rows from PostgreSQL")
    get_broker().purge_queue()
    outage.forget()
    shared_broker.cache_clear()
    # The suite runs tasks in the caller (Q_SYNC); this one goes to the broker.
    monkeypatch.setattr(Conf, "SYNC", False)
    process = start_cluster(Q_LOG_LEVEL="INFO")
    try:
        # A task's result is stored: the sentinel, workers and monitor run.
        task_id = async_task("os.getpid", broker=shared_broker())
        deadline = time.monotonic() + 30
        while not Task.objects.filter(id=task_id).exists():
            assert process.poll() is None, "the cluster ended before its task ran"
            assert time.monotonic() < deadline, "the task did not run within 30 s"
            time.sleep(0.1)
        assert Task.objects.get(id=task_id).result != os.getpid()  # not run here
    finally:
        started = time.monotonic()
        out = stop_cluster(process, within=15).decode()
        took = time.monotonic() - started
        connections.close_all()
    # Said by the cluster's process once the sentinel has stopped the others.
    assert "has stopped." in out, out[-3000:]
    assert "stopped doing work" in out, out[-3000:]
    assert process.returncode == 0, out[-3000:]
    assert took < 15
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # nothing of the cluster is left
