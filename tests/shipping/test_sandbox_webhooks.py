"""The sandbox carrier pushes its own signed tracking webhooks as parcels
move (``services.sandbox_tracking_announce``, the ``shipping.sandbox_tracking``
schedule): each scan is announced once, the intake applies it, and a poll
afterwards finds nothing new."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from integrations.models import Event, WebhookEvent
from integrations.providers import sandbox_webhooks
from integrations.webhooks.services import webhook_event_process
from shipping import services
from shipping.models import SandboxLabel, Shipment
from tests.contract.sandbox import SECRET
from tests.shipping.helpers import carrier
from tests.shipping.test_tracking import _bought

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def deliveries_on(settings):
    settings.SANDBOX_WEBHOOK_BASE_URL = "http://127.0.0.1:9"


def _sold(account, *, steps_ago: float, key: str = "k") -> Shipment:
    shipment = _bought(account, steps_ago=steps_ago, key=key)
    SandboxLabel.objects.create(
        account=account,
        idempotency_key=key,
        reference=shipment.public_id,
        tracking_number=shipment.tracking_number,
        service_code="SBX_GROUND",
        label_format="PDF",
        amount=700,
        currency="USD",
    )
    return shipment


def _announce(callbacks) -> tuple[int, list]:
    with callbacks() as deliveries:
        posted = services.sandbox_tracking_announce()
    return posted, list(deliveries)


def _deliver(slug: str, delivery) -> None:
    """What the delivery task posts, through the real intake and processing."""
    raw = delivery.keywords["body"].encode()
    headers = sandbox_webhooks.webhook_headers(
        secret=SECRET, webhook_id=delivery.keywords["webhook_id"], body=raw
    )
    wsgi = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    response = Client().post(
        f"/webhooks/{slug}/", data=raw, content_type="application/json", **wsgi
    )
    assert response.status_code < 300, response.content
    event = WebhookEvent.objects.get(dedupe_key=delivery.keywords["webhook_id"])
    webhook_event_process(event_id=event.pk)


def test_a_moving_parcel_is_announced_once_and_applied_without_a_poll(
    django_capture_on_commit_callbacks,
):
    account = carrier("pushy-post")
    shipment = _sold(account, steps_ago=1)

    posted, deliveries = _announce(django_capture_on_commit_callbacks)

    assert posted == 1
    (delivery,) = deliveries
    body = json.loads(delivery.keywords["body"])
    assert body["type"] == "shipment.tracking_updated"
    assert body["data"] == {
        "tracking_number": shipment.tracking_number,
        "status": "in_transit",
    }
    _deliver(account.slug, delivery)
    shipment.refresh_from_db()
    assert shipment.tracking_status == "in_transit"
    assert shipment.tracking_events.count() == 2
    # Nothing new has happened: no second webhook, and a poll adds nothing.
    assert _announce(django_capture_on_commit_callbacks) == (0, [])
    assert services.shipment_tracking_refresh(shipment=shipment) == 0
    assert Event.objects.filter(name="shipment.tracking_updated").count() == 1


def test_each_new_scan_is_announced_as_time_passes(
    django_capture_on_commit_callbacks, monkeypatch
):
    account = carrier("pushy-post")
    shipment = _sold(account, steps_ago=1)
    _, (first,) = _announce(django_capture_on_commit_callbacks)
    _deliver(account.slug, first)

    # Half an hour on: the parcel has been delivered, in the intake's view too.
    later = timezone.now() + timedelta(seconds=600 * 3)
    with monkeypatch.context() as patched:
        patched.setattr(timezone, "now", lambda: later)
        posted, (second,) = _announce(django_capture_on_commit_callbacks)
        _deliver(account.slug, second)

    assert posted == 1
    shipment.refresh_from_db()
    assert shipment.tracking_status == "delivered"
    assert SandboxLabel.objects.get(account=account).announced_events == 5
    assert Event.objects.filter(name="shipment.delivered").count() == 1


def test_nothing_is_announced_when_it_cannot_or_should_not_be(
    django_capture_on_commit_callbacks, settings
):
    down = carrier("down-post", outage=True)
    _sold(down, steps_ago=2, key="a")
    quiet = carrier("quiet-post", priority=20)
    _sold(quiet, steps_ago=2, key="b")
    SandboxLabel.objects.filter(account=quiet).update(voided=True)

    assert _announce(django_capture_on_commit_callbacks) == (0, [])

    settings.SANDBOX_WEBHOOK_BASE_URL = ""
    SandboxLabel.objects.filter(account=quiet).update(voided=False)
    assert _announce(django_capture_on_commit_callbacks) == (0, [])
    # Deliveries off claim nothing: turned on, the scans still go.
    settings.SANDBOX_WEBHOOK_BASE_URL = "http://127.0.0.1:9"
    posted, deliveries = _announce(django_capture_on_commit_callbacks)
    assert posted == 1 and len(deliveries) == 1
    assert SandboxLabel.objects.get(account=down).announced_events == 0


def test_the_schedule_runs_the_announcement():
    from integrations.schedules import collect_jobs

    jobs = {job.name: job for job in collect_jobs()}
    assert jobs["shipping.sandbox_tracking"].func == (
        "shipping.tasks.announce_sandbox_tracking"
    )
