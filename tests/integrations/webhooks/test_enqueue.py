"""How accepted webhooks reach the workers: batched by a background thread
per web process, never lost when the broker or the process fails."""

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from django.utils import timezone
from django_q.conf import Conf

from integrations import task_batcher
from integrations.models import WebhookEvent, WebhookStatus
from integrations.webhooks import services, tasks
from tests.factories import ProviderAccountFactory
from tests.integrations.webhooks import handlers
from tests.integrations.webhooks.conftest import make_body, sw_headers
from tests.pg import drop_pooled_connection

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.django_db


class Recorder:
    """Stands in for ``async_task``: what a worker would be handed."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, list]] = []
        self.failing = False
        self._lock = threading.Lock()

    def __call__(self, func: str, items: list, **kwargs: object) -> None:
        if self.failing:
            raise ConnectionError("broker unreachable")
        with self._lock:
            self.tasks.append((func, list(items)))

    def wait_for_items(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if sum(len(items) for _, items in self.tasks) >= count:
                    return
            time.sleep(0.01)
        raise AssertionError(f"{count} items were never enqueued: {self.tasks}")


@pytest.fixture
def broker(monkeypatch, settings) -> Recorder:
    """Tasks go to a broker (as in production), not run inline as in the
    rest of the suite; a generous linger makes the batch deterministic."""
    recorder = Recorder()
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(task_batcher, "async_task", recorder)
    settings.WEBHOOK_ENQUEUE_LINGER_MS = 1000
    return recorder


def _post_many(post_webhook, count: int) -> list:
    responses = []
    for n in range(count):
        body = make_body(id=f"pay_{n}")
        responses.append(post_webhook("sbx-pay", body, sw_headers(body)))
    return responses


def test_webhooks_arriving_together_go_to_the_workers_as_one_task(
    account, broker, post_webhook, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        responses = _post_many(post_webhook, 5)
    assert [r.status_code for r in responses] == [200] * 5
    broker.wait_for_items(5)

    assert len(broker.tasks) == 1
    func, items = broker.tasks[0]
    assert func == services.PROCESS_BATCH_TASK
    rows = list(WebhookEvent.objects.order_by("pk"))
    assert items == [[row.pk, row.correlation_id] for row in rows]
    assert all(row.correlation_id for row in rows)

    # What the worker then does with that one task.
    assert tasks.process_webhook_events(items) == [WebhookStatus.PROCESSED] * 5
    assert len(handlers.calls) == 5


def test_a_batch_keeps_going_past_an_event_that_crashes(account, monkeypatch):
    from tests.factories import WebhookEventFactory

    first, second = (WebhookEventFactory(account=account) for _ in range(2))
    real = services.webhook_event_process

    def crash_on_first(*, event_id: int, **kwargs: object):
        if event_id == first.pk:
            raise RuntimeError("database hiccup")
        return real(event_id=event_id, **kwargs)

    monkeypatch.setattr(services, "webhook_event_process", crash_on_first)
    results = tasks.process_webhook_events([[first.pk, ""], [second.pk, ""]])
    assert results == [None, WebhookStatus.PROCESSED]


def test_a_crash_is_logged_under_the_events_correlation_id(account, monkeypatch):
    from integrations import correlation
    from tests.factories import WebhookEventFactory

    event = WebhookEventFactory(account=account)
    seen: list[str | None] = []

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(correlation.get())

    def crash(**kwargs: object):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(services, "webhook_event_process", crash)
    handler = Seen()
    tasks.logger.addHandler(handler)
    try:
        tasks.process_webhook_events([[event.pk, "corr-1"]])
    finally:
        tasks.logger.removeHandler(handler)
    assert seen == ["corr-1"]


def test_a_broker_down_in_the_background_loses_nothing(
    account, broker, post_webhook, django_capture_on_commit_callbacks, caplog
):
    broker.failing = True
    with caplog.at_level(logging.ERROR, logger="integrations.task_batcher"):
        with django_capture_on_commit_callbacks(execute=True):
            responses = _post_many(post_webhook, 2)
        assert [r.status_code for r in responses] == [200, 200]
        deadline = time.monotonic() + 10
        while "left for the sweeper" not in caplog.text:
            assert time.monotonic() < deadline, "the failure was never logged"
            time.sleep(0.01)
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {
        WebhookStatus.RECEIVED
    }

    # The broker is back; the sweeper finds both rows once they are overdue.
    broker.failing = False
    later = timezone.now() + timezone.timedelta(minutes=30)
    assert services.webhook_events_sweep(now=later) == 2
    assert sorted(i[0] for _, items in broker.tasks for i in items) == sorted(
        WebhookEvent.objects.values_list("pk", flat=True)
    )


def test_what_is_pending_at_a_graceful_exit_is_sent(tmp_path):
    """A worker restarted while items wait for their batch sends them on the
    way out, not only after the sweeper's delay."""
    out = tmp_path / "sent.txt"
    script = textwrap.dedent(
        f"""
        import django
        django.setup()
        from integrations import task_batcher

        def record(func, items, **kwargs):
            with open({str(out)!r}, "a") as f:
                f.write(repr((func, items)) + "\\n")

        task_batcher.async_task = record
        batcher = task_batcher.TaskBatcher("some.task", linger=lambda: 60.0)
        batcher.add([1, "corr-1"])
        batcher.add([2, "corr-2"])
        """
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "Q_SYNC": "false",
    }
    subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60
    )
    assert out.read_text().splitlines() == [
        "('some.task', [[1, 'corr-1'], [2, 'corr-2']])"
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_intake_replaces_a_database_connection_that_died(post_webhook):
    ProviderAccountFactory(slug="sbx-pay")
    body = make_body(id="pay_1")
    assert post_webhook("sbx-pay", body, sw_headers(body)).status_code == 200

    # The server drops the pooled connection between two requests.
    drop_pooled_connection()

    body = make_body(id="pay_2")
    response = post_webhook("sbx-pay", body, sw_headers(body))
    assert response.status_code == 200
    assert WebhookEvent.objects.count() == 2
