"""A task enqueue on the Redis broker in a Redis outage. The first one meets
the outage (its socket timeout) and notes it in the one outage record; the
next ones in the pause are not sent (no wait) and take the caller's own
fallback: a webhook row stays ``received`` for the sweeper, a sandbox
webhook is kept as a one-off schedule (a database row) instead of dropped.
One warning per outage, not a line per enqueue."""

import ast
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Schedule

from config.checks import redis_url_with_timeouts
from integrations import redis_line
from integrations.models import WebhookEvent
from integrations.providers import sandbox_webhooks
from integrations.redis_line import outage
from integrations.task_batcher import shared_broker
from integrations.task_broker import RedisTaskBroker
from integrations.webhooks.services import webhook_events_sweep
from tests.factories import ProviderAccountFactory
from tests.integrations.redis_black_holes import Silent, timed, watched
from tests.integrations.webhooks.conftest import SECRET, make_body, sw_headers

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

# The broker's read timeout (its BLPOP waits 1 s longer than the cache's).
DELIVER = sandbox_webhooks.DELIVER_TASK
BROKER_TIMEOUT = django_settings.REDIS_SOCKET_TIMEOUT_SECONDS + 1


@pytest.fixture
def broker_down(monkeypatch, settings) -> Iterator[Silent]:
    """The task broker pointed at a Redis that accepts and never answers."""
    hole = Silent()
    url = redis_url_with_timeouts(
        hole.url,
        connect=django_settings.REDIS_CONNECT_TIMEOUT_SECONDS,
        socket=BROKER_TIMEOUT,
    )
    monkeypatch.setattr(Conf, "REDIS", url)
    monkeypatch.setattr(Conf, "SYNC", False)
    settings.WEBHOOK_ENQUEUE_LINGER_MS = 0  # sent in the request
    shared_broker.cache_clear()
    outage.forget()
    try:
        with watched(hole):
            yield hole
    finally:
        hole.close()
        shared_broker.cache_clear()
        outage.forget()


def _deliver(slug: str, capture) -> int:
    body = make_body(amount=100)
    with capture(execute=True):
        response = Client().post(
            f"/webhooks/{slug}/",
            data=body,
            content_type="application/json",
            **sw_headers(body, secret=SECRET),
        )
    return response.status_code


def test_the_configured_broker_obeys_the_outage_record():
    assert isinstance(get_broker(), RedisTaskBroker)
    assert isinstance(shared_broker(), RedisTaskBroker)


def test_the_second_enqueue_in_an_outage_does_not_wait(
    broker_down, django_capture_on_commit_callbacks, caplog
):
    caplog.set_level(logging.INFO)
    account = ProviderAccountFactory(slug="sbx-pay")
    took_first, status = timed(
        lambda: _deliver(account.slug, django_capture_on_commit_callbacks)
    )
    assert status == 200
    assert took_first >= BROKER_TIMEOUT * 0.8  # it did meet the outage
    asked = broker_down.accepted
    for _ in range(3):
        took, status = timed(
            lambda: _deliver(account.slug, django_capture_on_commit_callbacks)
        )
        assert status == 200
        assert took < BROKER_TIMEOUT / 2, f"{took:.2f} s"
    assert broker_down.accepted == asked  # not asked again in the pause
    # Nothing lost: every row is stored, waiting for the sweeper.
    rows = WebhookEvent.objects.filter(account=account)
    assert rows.count() == 4
    assert set(rows.values_list("status", flat=True)) == {"received"}
    # One warning for the outage, no error or traceback per webhook.
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in loud] == [redis_line.logger.name], loud


def test_the_sweeper_enqueues_them_once_redis_answers(
    broker_down, django_capture_on_commit_callbacks, monkeypatch
):
    account = ProviderAccountFactory(slug="sbx-pay")
    for _ in range(2):
        assert _deliver(account.slug, django_capture_on_commit_callbacks) == 200
    monkeypatch.setattr(Conf, "SYNC", True)  # the broker answers (run here)
    outage.forget()
    later = WebhookEvent.objects.latest("pk").received_at + _sweep_after()
    assert webhook_events_sweep(now=later) == 2
    rows = WebhookEvent.objects.filter(account=account)
    assert "received" not in set(rows.values_list("status", flat=True))


def _sweep_after() -> timedelta:
    return timedelta(minutes=django_settings.WEBHOOK_SWEEP_AFTER_MINUTES, seconds=1)


def test_a_sandbox_webhook_in_an_outage_is_kept_as_a_schedule(
    broker_down, settings, django_capture_on_commit_callbacks
):
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
    kept = [_kwargs(row) for row in Schedule.objects.filter(func=DELIVER)]
    assert sorted(k["webhook_id"] for k in kept) == sorted(ids)
    assert {(k["attempt"], k["account_id"]) for k in kept} == {(1, account.pk)}


def _kwargs(row: Schedule) -> dict:
    return ast.literal_eval(row.kwargs)
