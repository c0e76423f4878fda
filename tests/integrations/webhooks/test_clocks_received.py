"""Stored webhooks whatever the machines' clocks: ``received_at`` is the
database's time, and the sweep and the claims measure by the same clock,
so a web process, a worker or a sweeper minutes off neither gets a fresh
webhook swept as lost, nor hides a lost one, nor steals a live claim."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.clock import database_now
from integrations.models import WebhookEvent, WebhookStatus
from integrations.testing.clocks import (
    machine_clock,
    shared_by_machines,
    whole_machine_clock,
)
from integrations.webhooks import services
from integrations.webhooks.messages import WebhookMessage
from integrations.webhooks.services import (
    webhook_event_process,
    webhook_events_receive,
    webhook_events_sweep,
)
from tests.integrations.webhooks.conftest import make_body, sw_headers

pytestmark = pytest.mark.django_db

SKEW = 240  # a machine whose NTP broke: four minutes off
LEASE = 60
THIS = "tests.integrations.webhooks.test_clocks_received"
_sweeper_skew: list[float] = []


@pytest.fixture(autouse=True)
def _two_machines(settings, monkeypatch) -> list[int]:
    """The broker loses every first enqueue; what the sweep sends is kept."""
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")
    settings.WEBHOOK_SWEEP_AFTER_MINUTES = 2
    settings.WEBHOOK_PROCESSING_LEASE_SECONDS = LEASE
    _sweeper_skew.clear()
    swept: list[int] = []
    monkeypatch.setattr(services, "_enqueue", lambda *_: None)
    monkeypatch.setattr(services, "_enqueue_each", lambda *_: None)
    monkeypatch.setattr(
        services, "_enqueue_many", lambda items: swept.extend(i[0] for i in items)
    )
    return swept


def _receive_on_a_machine(post_webhook, seconds: float) -> WebhookEvent:
    body = make_body(id="pay_1")
    with whole_machine_clock(seconds):
        assert abs(timezone.now() - database_now()) > timedelta(seconds=SKEW - 5)
        response = post_webhook("sbx-pay", body, sw_headers(body))
    assert response.status_code == 200, response.content
    return WebhookEvent.objects.get()


def _receive_many_on_a_machine(account, seconds: float) -> list[int]:
    messages = [
        WebhookMessage(
            event_type="payment.succeeded", dedupe_key=f"evt_{n}", payload={}
        )
        for n in range(2)
    ]
    with whole_machine_clock(seconds):
        return webhook_events_receive(
            account=account, messages=messages, body=b"{}", headers={}
        )


def test_a_fresh_webhook_from_a_slow_web_process_is_not_swept_as_lost(
    account, post_webhook, _two_machines
) -> None:
    _receive_on_a_machine(post_webhook, -SKEW)

    assert webhook_events_sweep() == 0
    assert _two_machines == []


def test_a_lost_webhook_from_a_fast_web_process_is_swept_after_the_delay(
    account, post_webhook, _two_machines
) -> None:
    event = _receive_on_a_machine(post_webhook, SKEW)

    assert webhook_events_sweep(now=database_now() + timedelta(minutes=3)) == 1
    assert _two_machines == [event.pk]


def test_fresh_webhooks_of_one_request_from_a_slow_web_process_wait(
    account, _two_machines
) -> None:
    assert len(_receive_many_on_a_machine(account, -SKEW)) == 2

    assert webhook_events_sweep() == 0


def test_lost_webhooks_of_one_request_from_a_fast_web_process_are_swept(
    account, _two_machines
) -> None:
    ids = _receive_many_on_a_machine(account, SKEW)

    assert webhook_events_sweep(now=database_now() + timedelta(minutes=3)) == 2
    assert sorted(_two_machines) == sorted(ids)


@pytest.mark.parametrize("machine", [-SKEW, SKEW], ids=["behind", "ahead"])
def test_a_webhook_carries_the_databases_time(account, post_webhook, machine) -> None:
    before = database_now()
    event = _receive_on_a_machine(post_webhook, machine)
    after = database_now()

    assert before <= event.received_at <= after


def test_a_sweeper_whose_clock_is_ahead_leaves_a_fresh_webhook(
    account, post_webhook, _two_machines
) -> None:
    body = make_body(id="pay_2")
    assert post_webhook("sbx-pay", body, sw_headers(body)).status_code == 200

    with machine_clock(SKEW):
        assert webhook_events_sweep() == 0
    assert _two_machines == []


def sweeps_while_processing(event: WebhookEvent) -> None:
    """A handler during whose run another machine's sweep runs."""
    with machine_clock(_sweeper_skew[0]):
        webhook_events_sweep()


@pytest.mark.parametrize(
    ("worker", "sweeper"),
    [(-SKEW, 0), (0, SKEW)],
    ids=["worker_behind", "sweeper_ahead"],
)
def test_a_sweep_on_another_machine_leaves_a_live_claim(
    settings, account, post_webhook, worker, sweeper
) -> None:
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {
        "payments": {"*": f"{THIS}.sweeps_while_processing"}
    }
    _sweeper_skew.append(sweeper)
    body = make_body(id="pay_3")
    assert post_webhook("sbx-pay", body, sw_headers(body)).status_code == 200
    event = WebhookEvent.objects.get()

    with machine_clock(worker):
        assert webhook_event_process(event_id=event.pk) == WebhookStatus.PROCESSED

    event.refresh_from_db()
    assert (event.status, event.attempts) == (WebhookStatus.PROCESSED, 1)


def test_a_sweeper_whose_clock_is_behind_takes_back_an_expired_claim(
    account, post_webhook, _two_machines
) -> None:
    body = make_body(id="pay_4")
    assert post_webhook("sbx-pay", body, sw_headers(body)).status_code == 200
    event = WebhookEvent.objects.get()
    # A worker claimed it a lease and a bit ago (by the database's clock) and died.
    WebhookEvent.objects.filter(pk=event.pk).update(
        status=WebhookStatus.PROCESSING,
        attempts=1,
        claimed_at=database_now() - timedelta(seconds=LEASE + 5),
    )

    with machine_clock(-SKEW):
        assert webhook_events_sweep() == 1
    assert _two_machines == [event.pk]
