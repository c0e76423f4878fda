"""Outbox subscribers the event tests name by dotted path."""

import threading

from integrations.models import Event

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
