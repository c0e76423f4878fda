"""``integrations.event_sql``: the event and its deliveries written in one
statement (PostgreSQL) or row by row (elsewhere) are the rows the ORM
writes, with the deliveries' pks returned for the after-commit enqueue."""

import pytest
from django.db import transaction
from django.forms.models import model_to_dict

from integrations import correlation
from integrations.event_sql import event_rows_insert
from integrations.events import event_emit
from integrations.models import Event, EventDelivery

pytestmark = pytest.mark.django_db(transaction=True)

PAYLOAD = {"payment_id": "pay_1", "amount": 1050, "note": "ü"}
_VOLATILE = {"id", "event", "created_at"}


def _rows(event: Event) -> tuple[dict, list[dict]]:
    fresh = Event.objects.get(pk=event.pk)
    deliveries = EventDelivery.objects.filter(event=fresh).order_by("pk")
    return (
        {k: v for k, v in model_to_dict(fresh).items() if k not in _VOLATILE},
        [
            {k: v for k, v in model_to_dict(d).items() if k not in _VOLATILE}
            for d in deliveries
        ],
    )


def test_rows_are_the_orms():
    subscribers = ["tests.a", "tests.b", "tests.c"]
    with correlation.bind("corr-1"):
        by_orm = Event.objects.create(
            name="payment.captured",
            subject="payment:pay_1",
            payload=PAYLOAD,
            correlation_id="corr-1",
        )
        EventDelivery.objects.bulk_create(
            EventDelivery(event=by_orm, subscriber=name) for name in subscribers
        )
        event = Event(
            name="payment.captured",
            subject="payment:pay_1",
            payload=PAYLOAD,
            correlation_id="corr-1",
        )
        ids: list[int] = []
        with transaction.atomic():
            event_rows_insert(event, subscribers, ids.extend)
    assert _rows(event) == _rows(by_orm)
    deliveries = EventDelivery.objects.filter(event_id=event.pk).order_by("pk")
    assert ids == [d.pk for d in deliveries]
    assert [d.subscriber for d in deliveries] == subscribers
    assert Event.objects.get(pk=event.pk).created_at == event.created_at


def test_no_subscriber_no_delivery():
    event = Event(name="nobody.listens", subject="", payload={})
    ids: list[int] = [-1]
    event_rows_insert(event, [], ids.extend)
    assert ids == [-1]
    assert Event.objects.filter(pk=event.pk).exists()
    assert not EventDelivery.objects.exists()


def test_emit_rolls_back_with_its_transaction():
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        event_emit(name="payment.captured", payload=PAYLOAD, subject="payment:1")
        1 / 0  # noqa: B018
    assert not Event.objects.exists()
    assert not EventDelivery.objects.exists()
