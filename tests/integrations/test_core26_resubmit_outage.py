"""Staff resubmit failed tasks while Redis (the task broker) is down: the
outage has its one warning (the outage record's); each task not queued is
at most one INFO line, not an ERROR with a traceback; every failure is kept
to resubmit later, and the staff member reads one message saying how many."""

import logging
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Failure

from integrations import redis_line
from integrations.redis_line import outage
from integrations.task_batcher import shared_broker
from tests.integrations.redis_refusing import OOM, Refusing

# The action queues on commit: a real commit, before the page is drawn.
pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

TASKS = 3


def _use_broker_at(monkeypatch, url: str) -> None:
    monkeypatch.setattr(Conf, "REDIS", url)
    monkeypatch.setattr(Conf, "SYNC", False)
    shared_broker.cache_clear()
    outage.forget()


@pytest.fixture
def broker_down(monkeypatch) -> Iterator[None]:
    _use_broker_at(monkeypatch, "redis://127.0.0.1:1/0")  # nothing listens
    yield
    shared_broker.cache_clear()
    outage.forget()


@pytest.fixture
def broker_full(monkeypatch) -> Iterator[Refusing]:
    server = Refusing(OOM)
    _use_broker_at(monkeypatch, server.url())
    yield server
    server.close()
    shared_broker.cache_clear()
    outage.forget()


def _failures() -> list[Failure]:
    return [
        Failure.objects.create(
            id=f"{n:032x}",
            name=f"refund-{n}",
            func="payments.tasks.some_refund",
            args=(),
            kwargs={},
            started=timezone.now(),
            stopped=timezone.now(),
            success=False,
            result="boom",
        )
        for n in range(TASKS)
    ]


def _staff_client() -> Client:
    user = User.objects.create_user("ops", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_failure", "change_failure"])
    )
    client = Client()
    client.force_login(user)
    return client


def _resubmit_all() -> str:
    tasks = _failures()
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


def _task_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if hasattr(r, "task_id")]


def test_resubmitting_in_an_outage_warns_once_and_keeps_every_failure(
    broker_down, caplog
):
    caplog.set_level(logging.INFO)
    page = _resubmit_all()
    assert Failure.objects.count() == TASKS  # every one kept, to resubmit
    loud = [(r.name, r.levelno) for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == [(redis_line.logger.name, logging.WARNING)]
    lines = _task_lines(caplog)
    assert 0 < len(lines) <= TASKS
    assert all(r.levelno == logging.INFO and not r.exc_info for r in lines)
    assert f"{TASKS} of {TASKS} tasks could not be queued" in page
    assert page.count("could not be queued") == 1  # one message, not one per task


def test_resubmitting_to_a_full_redis_is_its_error_once(broker_full, caplog):
    caplog.set_level(logging.INFO)
    page = _resubmit_all()
    assert Failure.objects.count() == TASKS
    loud = [(r.name, r.levelno) for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == [(redis_line.logger.name, logging.ERROR)]  # the refusal's
    outage.check()  # a refusal: no pause
    assert f"{TASKS} of {TASKS} tasks could not be queued" in page
