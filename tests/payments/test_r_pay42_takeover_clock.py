"""r-pay42: a stale Idempotency-Key claim taken over is stamped by the
database's clock too.

A retry that takes a dead run's record over gives it a new ``created_at``
(``_take_over``); the next retry judges that by the database's time. Were it
the taking machine's clock, a take-over from a machine behind would look dead
at once and the request would run a third time beside the second."""

from datetime import timedelta

import pytest
from django.conf import settings

from integrations.clock import database_now
from integrations.models import IdempotencyRecord
from integrations.testing.clocks import whole_machine_clock
from tests.payments.idempotency_clock import (
    PAYMENTS,
    SKEW,
    authorized,
    captures,
    in_flight,
    server_database_only,  # noqa: F401 (autouse: skipped on SQLite)
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_take_over_from_a_machine_behind_holds_off_the_next_retry(
    primary, api, monkeypatch
):
    pid = authorized(api)
    url = f"{PAYMENTS}{pid}/capture/"
    in_flight(api, monkeypatch, url)
    # Its worker died long ago, by the database's clock.
    dead = database_now() - timedelta(
        seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS + 60
    )
    IdempotencyRecord.objects.filter(key="cap-1").update(created_at=dead)

    # A retry on a machine behind takes it over; its run is still going.
    with whole_machine_clock(-SKEW):
        in_flight(api, monkeypatch, url)
    taken = IdempotencyRecord.objects.get(key="cap-1").created_at

    retry = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="cap-1")

    assert retry.status_code == 409, retry.content
    assert retry.json()["error"]["code"] == "idempotency_key_in_use"
    assert captures(pid) == 0
    assert abs((database_now() - taken).total_seconds()) < 60
