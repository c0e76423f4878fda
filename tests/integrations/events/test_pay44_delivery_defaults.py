"""pay44: an event's deliveries take their default values from a per-process
table, not from an EventDelivery built (and thrown away) for every event."""

import pytest
from django.db import transaction

from integrations.event_sql import event_rows_insert
from integrations.models import Event, EventDelivery

pytestmark = pytest.mark.django_db(transaction=True)


def _emit(name: str) -> Event:
    event = Event(name=name, subject="payment:pay_1", payload={"n": 1})
    with transaction.atomic():
        event_rows_insert(event, ["tests.a", "tests.b"], lambda ids: None)
    return event


def test_no_delivery_model_is_built_per_event(monkeypatch):
    _emit("payment.captured")  # the first may read the defaults
    built = []
    original = EventDelivery.__init__

    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(EventDelivery, "__init__", counting)
    _emit("payment.refunded")
    assert built == []


def test_deliveries_still_get_the_model_defaults():
    event = _emit("payment.captured")
    event = _emit("payment.captured")  # from the table this time
    rows = EventDelivery.objects.filter(event_id=event.pk).order_by("pk")
    assert [(d.subscriber, d.status, d.attempts, d.last_error) for d in rows] == [
        ("tests.a", "pending", 0, ""),
        ("tests.b", "pending", 0, ""),
    ]
    assert all(
        d.next_attempt_at is None and d.claimed_at is None and d.delivered_at is None
        for d in rows
    )
