"""Storefront deliveries are stamped created by the database's clock, the
one the sweep measures "lost" and the age limit by: a worker fanning an
event out (or a web process sending a test event) whose clock is minutes
off neither gets a fresh delivery swept as lost, nor hides a lost one from
the sweep, nor moves the age limit."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.clock import database_now
from integrations.events import event_emit
from integrations.models import DeliveryStatus
from integrations.testing.clocks import whole_machine_clock
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services import sweep

pytestmark = pytest.mark.django_db

SKEW = 240  # a machine whose NTP broke: four minutes off


@pytest.fixture(autouse=True)
def swept(two_machines, settings, monkeypatch) -> list[int]:
    """The broker loses what the fan-out enqueues; the sweep's are kept."""
    settings.STOREFRONT_WEBHOOK_SWEEP_AFTER_MINUTES = 2
    sent: list[int] = []
    monkeypatch.setattr(sweep, "enqueue", sent.append)
    return sent


def _on_a_machine(seconds: float, make) -> WebhookDelivery:
    with whole_machine_clock(seconds):
        assert abs(timezone.now() - database_now()) > timedelta(seconds=SKEW - 5)
        return make()


def _fan_out(endpoint) -> WebhookDelivery:
    event = event_emit(name="payment.captured", payload={"order_id": "ord_1"})
    services.event_fan_out(event)
    return WebhookDelivery.objects.get(event=event)


def _test_event(endpoint) -> WebhookDelivery:
    return services.test_event_send(endpoint=endpoint)


MAKERS = pytest.mark.parametrize(
    "make", [_fan_out, _test_event], ids=["fan_out", "test"]
)


@MAKERS
def test_a_fresh_delivery_from_a_slow_machine_is_not_swept_as_lost(
    make_endpoint, swept, make
) -> None:
    endpoint, _ = make_endpoint()
    _on_a_machine(-SKEW, lambda: make(endpoint))

    assert services.deliveries_sweep() == 0
    assert swept == []


@MAKERS
def test_a_lost_delivery_from_a_fast_machine_is_swept_after_the_delay(
    make_endpoint, swept, make
) -> None:
    endpoint, _ = make_endpoint()
    delivery = _on_a_machine(SKEW, lambda: make(endpoint))

    assert services.deliveries_sweep(now=database_now() + timedelta(minutes=3)) == 1
    assert swept == [delivery.pk]


def test_the_age_limit_of_a_delivery_from_a_fast_worker_counts_from_its_making(
    settings, make_endpoint
) -> None:
    endpoint, _ = make_endpoint()
    delivery = _on_a_machine(SKEW, lambda: _fan_out(endpoint))
    hours = settings.STOREFRONT_WEBHOOK_MAX_AGE_HOURS

    services.deliveries_sweep(now=database_now() + timedelta(hours=hours, minutes=2))

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD
    assert f"Not delivered within {hours} hours" in delivery.last_error


@pytest.mark.parametrize("machine", [-SKEW, SKEW], ids=["behind", "ahead"])
def test_a_delivery_carries_the_databases_time(make_endpoint, machine) -> None:
    endpoint, _ = make_endpoint()
    before = database_now()
    made = [
        _on_a_machine(machine, lambda m=m: m(endpoint)) for m in (_fan_out, _test_event)
    ]
    after = database_now()

    for delivery in made:
        assert (
            delivery.created_at
            == WebhookDelivery.objects.get(pk=delivery.pk).created_at
        )
        assert before <= delivery.created_at <= after
