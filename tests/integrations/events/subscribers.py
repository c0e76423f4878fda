"""Outbox subscribers the event tests name by dotted path."""

import threading
from datetime import timedelta

from django.db.models import F

from integrations.models import DeliveryStatus, Event, EventDelivery

calls: list[tuple[str, int]] = []  # (subscriber, event pk)
GATE = threading.Event()
FAILURES_LEFT = {"count": 0}


def audit(event: Event) -> None:
    calls.append(("audit", event.pk))


def mailer(event: Event) -> None:
    calls.append(("mailer", event.pk))


def flaky(event: Event) -> None:
    calls.append(("flaky", event.pk))
    if FAILURES_LEFT["count"] > 0:
        FAILURES_LEFT["count"] -= 1
        raise ConnectionError("subscriber's downstream refused")


def writes_then_fails(event: Event) -> None:
    Event.objects.create(name="test.side_effect", payload={"of": event.pk})
    raise RuntimeError("failed after writing")


def writes(event: Event) -> None:
    Event.objects.create(name="test.side_effect", payload={"of": event.pk})
    calls.append(("writes", event.pk))


def wait_for_gate(event: Event) -> None:
    GATE.wait(timeout=10)
    calls.append(("gate", event.pk))


def writes_and_loses_claim(event: Event) -> None:
    # While this worker runs, the sweeper takes the delivery back and another
    # worker claims it (a new claimed_at).
    Event.objects.create(name="test.side_effect", payload={"of": event.pk})
    EventDelivery.objects.filter(event=event, status=DeliveryStatus.DELIVERING).update(
        claimed_at=F("claimed_at") + timedelta(seconds=1)
    )
