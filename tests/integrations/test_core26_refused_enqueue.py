"""A task broker whose Redis refuses the enqueue (full: OOM; a wrong
password) is not in an outage: Redis answered. Each enqueue site logs the
refusal by its rule (one ERROR per kind, no WARNING, no pause: the next
enqueue asks again) and keeps the work in its row, as in an outage."""

import ast
import logging
from collections.abc import Iterator

import pytest
from django_q.conf import Conf
from django_q.models import Schedule

from config.checks import redis_url_with_timeouts
from integrations import health_tasks, redis_line
from integrations.providers import sandbox_webhooks
from integrations.redis_line import outage
from integrations.task_batcher import TaskBatcher, shared_broker
from tests.factories import ProviderAccountFactory
from tests.integrations.redis_refusing import OOM, WRONGPASS, Refusing

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

PASSWORD = "s3cret-broker-pw"


@pytest.fixture(params=[(OOM, ""), ("x", PASSWORD)], ids=["oom", "wrongpass"])
def broker_refusing(request, monkeypatch) -> Iterator[Refusing]:
    """The task broker pointed at a Redis that answers every enqueue with an
    error (or refuses the password)."""
    error, password = request.param
    server = Refusing(error, handshake_error=WRONGPASS if password else None)
    url = redis_url_with_timeouts(server.url(password), connect=0.5, socket=0.5)
    monkeypatch.setattr(Conf, "REDIS", url)
    monkeypatch.setattr(Conf, "SYNC", False)
    shared_broker.cache_clear()
    outage.forget()
    try:
        yield server
    finally:
        server.close()
        shared_broker.cache_clear()
        outage.forget()


def _asked(server: Refusing) -> int:
    return server.connections + server.refused


def _loud(caplog) -> list[tuple[str, int]]:
    return [(r.name, r.levelno) for r in caplog.records if r.levelno >= logging.WARNING]


def _refused_once(caplog) -> None:
    # The refusal's one ERROR (by the outage record's refusal rule), no
    # outage WARNING, no per-enqueue ERROR or traceback.
    assert _loud(caplog) == [(redis_line.logger.name, logging.ERROR)]
    assert PASSWORD not in caplog.text
    outage.check()  # no pause: Redis answered


def test_a_refused_batch_is_left_for_the_sweeper_without_a_pause(
    broker_refusing, caplog
):
    caplog.set_level(logging.INFO)
    batcher = TaskBatcher("integrations.tasks_calls.noop", linger=lambda: 0)
    assert batcher.send([1, 2]) is False
    asked = _asked(broker_refusing)
    assert batcher.send([3]) is False
    assert _asked(broker_refusing) > asked  # asked again: no pause
    _refused_once(caplog)
    not_sent = [r for r in caplog.records if r.name == "integrations.task_batcher"]
    assert [r.levelno for r in not_sent] == [logging.INFO, logging.INFO]
    assert all("outage" not in r.getMessage() for r in not_sent)


def test_a_refused_sandbox_webhook_is_kept_as_a_schedule(
    broker_refusing, settings, django_capture_on_commit_callbacks, caplog
):
    caplog.set_level(logging.INFO)
    settings.SANDBOX_WEBHOOK_BASE_URL = "http://127.0.0.1:9"
    account = ProviderAccountFactory(slug="sbx-pay")
    ids = []
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            ids.append(
                sandbox_webhooks.webhook_enqueue(
                    account=account, event_type="payment.succeeded", data={"n": 1}
                )
            )
    rows = Schedule.objects.filter(func=sandbox_webhooks.DELIVER_TASK)
    kept = [ast.literal_eval(row.kwargs)["webhook_id"] for row in rows]
    assert sorted(kept) == sorted(ids)
    assert broker_refusing.refused + broker_refusing.connections >= 2
    _refused_once(caplog)


def test_refused_health_probes_are_not_an_outage(broker_refusing, caplog):
    caplog.set_level(logging.INFO)
    for slug in ("ship-a", "ship-b"):
        ProviderAccountFactory(slug=slug, kind="shipping")
    assert health_tasks.probe_enabled_accounts() == 0
    asked = _asked(broker_refusing)
    assert health_tasks.probe_enabled_accounts() == 0
    assert _asked(broker_refusing) > asked  # the next run asks again
    _refused_once(caplog)
    lines = [r for r in caplog.records if r.name == health_tasks.logger.name]
    assert all("outage" not in r.getMessage() for r in lines)
