"""hooks41 items 2 and 3: a success answered after the Retry-After that
holds the endpoint ends the hold (the receiver takes deliveries again), one
answered before it (settled later) does not; and a settle the database
refuses after a 429 still leaves the endpoint held."""

import contextlib
import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone

from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookEndpoint
from storefront_hooks.services.hold import hold_end, hold_set
from tests.storefront_hooks.conftest import HOOK_PATH
from tests.storefront_hooks.hold_setup import hold_settings, waiting_deliveries

pytestmark = pytest.mark.django_db
# Two workers at once: PostgreSQL (an in-memory SQLite is one connection's).
two_workers = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="two workers need a server database"
)
LONG = 600


@pytest.fixture(autouse=True)
def _retry_after_settings(settings) -> None:
    hold_settings(settings)
    settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = 2
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 20.0  # the test's answers wait


def _until(check, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _in_flight_then_429(
    receiver, in_flight_at, answered_429_at, atomic: bool = False
) -> WebhookEndpoint:
    """A row in flight (its 200 held back) while another is answered 429
    with a long Retry-After; then the 200 comes and is settled (in a
    caller's transaction if ``atomic``: the ORM path, not the one
    statement PostgreSQL's fast path settles with)."""
    released = threading.Event()
    receiver.route(
        "POST",
        HOOK_PATH,
        respond(200, until=released),
        respond(429, headers={"Retry-After": str(LONG)}),
        respond(200),
    )
    in_flight, answered = waiting_deliveries(2)
    results: list = []

    def send() -> None:
        try:
            with transaction.atomic() if atomic else contextlib.nullcontext():
                results.append(
                    services.delivery_send(delivery_id=in_flight.pk, now=in_flight_at)
                )
        finally:
            connection.close()

    worker = threading.Thread(target=send)
    worker.start()
    _until(lambda: len(receiver.requests_for("POST", HOOK_PATH)) == 1)
    sent = services.delivery_send(delivery_id=answered.pk, now=answered_429_at)
    assert sent == "failed"
    assert WebhookEndpoint.objects.get().retry_after_until is not None
    released.set()
    worker.join(15)
    assert results == ["delivered"]
    return WebhookEndpoint.objects.get()


@two_workers
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("atomic", [False, True], ids=["fast_path", "orm_path"])
def test_a_success_answered_after_the_429_ends_the_hold(
    receiver, make_endpoint, atomic
) -> None:
    make_endpoint()
    now = timezone.now()
    # The 429 was answered a minute before the in-flight row's 200.
    endpoint = _in_flight_then_429(receiver, now, now - timedelta(seconds=60), atomic)

    assert endpoint.retry_after_until is None
    third = waiting_deliveries(1)[0]
    later = timezone.now() + timedelta(seconds=1)
    assert services.delivery_send(delivery_id=third.pk, now=later) == "delivered"


@two_workers
@pytest.mark.django_db(transaction=True)
def test_a_success_answered_before_the_429_leaves_the_hold(
    receiver, make_endpoint
) -> None:
    make_endpoint()
    now = timezone.now()
    # The 429 came a minute after the 200 (settled later, a slow worker).
    endpoint = _in_flight_then_429(receiver, now, now + timedelta(seconds=60))

    assert endpoint.retry_after_until > now + timedelta(seconds=LONG)


def test_a_429_answered_before_the_success_that_ended_its_hold_holds_nothing(
    make_endpoint,
) -> None:
    """The other order: two 429s in flight, the first holds the endpoint, a
    success answered after both ends the hold; the second 429, answered
    before that success but settled after it, does not hold it again."""
    endpoint = make_endpoint()[0]
    now = timezone.now()
    hold_set(endpoint.pk, now + timedelta(seconds=60), now)
    assert hold_end(endpoint.pk, now + timedelta(seconds=10))

    hold_set(endpoint.pk, now + timedelta(seconds=LONG), now + timedelta(seconds=5))

    assert WebhookEndpoint.objects.get().retry_after_until is None


@pytest.mark.parametrize("error", [DatabaseError, OperationalError])
def test_a_settle_refused_after_a_429_keeps_the_hold(
    receiver, make_endpoint, error
) -> None:
    make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(429, headers={"Retry-After": "300"}))
    first, second = waiting_deliveries(2)
    now = timezone.now()
    broken = mock.patch(
        "storefront_hooks.services.deliveries.endpoint_failure_count",
        side_effect=error("the database went away"),
    )
    with broken:
        services.delivery_send(delivery_id=first.pk, now=now)

    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.retry_after_until is not None
    assert endpoint.retry_after_until >= now + timedelta(seconds=300)
    # The next row is held, not sent.
    later = now + timedelta(seconds=10)
    assert services.delivery_send(delivery_id=second.pk, now=later) == "pending"
    assert len(receiver.requests_for("POST", HOOK_PATH)) == 1


def test_a_hold_not_recorded_at_all_is_an_error_in_the_log(
    receiver, make_endpoint, caplog
) -> None:
    make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(429, headers={"Retry-After": "300"}))
    row = waiting_deliveries(1)[0]
    broken = mock.patch(
        "storefront_hooks.services.deliveries.hold_set",
        side_effect=DatabaseError("the database went away"),
    )
    with broken:
        services.delivery_send(delivery_id=row.pk)

    lost = [r for r in caplog.records if "hold not recorded" in r.getMessage()]
    assert lost and lost[0].levelname == "ERROR"
