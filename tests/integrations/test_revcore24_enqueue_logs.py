"""Every enqueue site whose row waits for a sweeper, in a Redis outage: the
broker refuses at once (RedisPaused) and the site keeps its row, with an
INFO line, not an ERROR and a traceback per enqueue (the outage record
warned once, and an operator is not paged per email). A broker failure
that is not Redis's is still an ERROR."""

import logging
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
from django_q.conf import Conf
from redis.exceptions import ConnectionError as RedisConnectionError

from integrations.batch.services import batch_job_create
from integrations.redis_line import outage
from integrations.task_batcher import shared_broker
from inventory.services.forwarding import forwards_enqueue
from notifications.services.sending import email_message_enqueue
from storefront_hooks.services.queue import enqueue as hook_enqueue
from tests.integrations.batch.handlers import H

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


@pytest.fixture
def in_outage(monkeypatch) -> Iterator[None]:
    monkeypatch.setattr(Conf, "SYNC", False)
    shared_broker.cache_clear()
    outage.forget()
    outage.failed(RedisConnectionError("refused"))  # warned here, once
    yield
    outage.forget()
    shared_broker.cache_clear()


def _batch() -> None:
    batch_job_create(kind="email.campaign", handler=f"{H}.rejected", items=[("a", {})])


SITES: dict[str, Callable[[], None]] = {
    "email": lambda: email_message_enqueue(SimpleNamespace(pk=1)),
    "storefront hook": lambda: hook_enqueue(1),
    "hold forward": lambda: forwards_enqueue([1]),
    "batch job": _batch,
}


@pytest.mark.parametrize("site", list(SITES))
def test_an_enqueue_in_an_outage_logs_info_not_an_error(
    site, in_outage, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO)
    with django_capture_on_commit_callbacks(execute=True):
        SITES[site]()
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == [], [(r.name, r.getMessage()) for r in loud]
    kept = [r for r in caplog.records if "sweeper" in r.getMessage()]
    assert kept and all(r.levelno == logging.INFO for r in kept), caplog.text


@pytest.mark.parametrize("site", list(SITES))
def test_a_broker_failure_not_redis_is_still_an_error(
    site, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(Conf, "SYNC", False)
    shared_broker.cache_clear()

    def broken(task):
        raise RuntimeError("pickling failed")

    monkeypatch.setattr(shared_broker(), "enqueue", broken)
    with django_capture_on_commit_callbacks(execute=True):
        SITES[site]()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info, caplog.text
    shared_broker.cache_clear()
