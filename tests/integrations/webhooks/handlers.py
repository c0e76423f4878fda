"""Domain handlers the webhook tests route to by dotted path."""

import threading
from datetime import timedelta

from integrations.events import event_emit
from integrations.models import WebhookEvent

calls: list[tuple[int, str, int]] = []  # (event pk, event type, attempts)
GATE = threading.Event()


def record(event: WebhookEvent) -> None:
    calls.append((event.pk, event.event_type, event.attempts))


def record_and_emit(event: WebhookEvent) -> None:
    # A database write, to show it commits or rolls back with the status.
    event_emit(name="test.handled", payload={"id": event.pk}, subject=event.dedupe_key)
    calls.append((event.pk, event.event_type, event.attempts))


def emit_then_fail(event: WebhookEvent) -> None:
    event_emit(name="test.handled", payload={"id": event.pk})
    raise RuntimeError("handler blew up after writing")


def fail(event: WebhookEvent) -> None:
    calls.append((event.pk, event.event_type, event.attempts))
    raise RuntimeError("downstream unavailable")


def wait_for_gate(event: WebhookEvent) -> None:
    # Holds the claim until the test opens the gate (a concurrency test aid).
    GATE.wait(timeout=10)
    calls.append((event.pk, event.event_type, event.attempts))


def emit_and_lose_claim(event: WebhookEvent) -> None:
    # While this worker runs, the sweeper takes the row back and another
    # worker claims it (a new claimed_at).
    event_emit(name="test.handled", payload={"id": event.pk})
    WebhookEvent.objects.filter(pk=event.pk).update(
        claimed_at=event.claimed_at + timedelta(seconds=1)
    )


def _look_up(event: WebhookEvent) -> None:
    # Stands for a call to the provider: its record (the call log) is kept.
    event_emit(name="test.looked_up", payload={"id": event.pk})
    event.looked_up = True


def fail_after_look_up(event: WebhookEvent) -> None:
    assert event.looked_up  # what prepare found rides on the event
    event_emit(name="test.handled", payload={"id": event.pk})
    raise RuntimeError("handler blew up after its look-up")


fail_after_look_up.prepare = _look_up  # type: ignore[attr-defined]
