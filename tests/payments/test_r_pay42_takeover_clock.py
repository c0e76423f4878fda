"""r-pay42: a stale Idempotency-Key claim taken over is stamped by the
database's clock too.

A retry that takes a dead run's record over gives it a new ``created_at``
(``_take_over``); the next retry judges that by the database's time. Were it
the taking machine's clock, a take-over from a machine behind would look dead
at once and the request would run a third time beside the second."""

from datetime import timedelta

import pytest
from django.conf import settings
from rest_framework.response import Response

from integrations.api import idempotency
from integrations.clock import database_now
from integrations.models import IdempotencyRecord
from integrations.testing.clocks import shared_by_machines, whole_machine_clock
from payments.models import PaymentAttempt

pytestmark = pytest.mark.django_db(transaction=True)

PAYMENTS = "/api/v1/payments/"
# Past the in-flight timeout (300 s by default).
SKEW = settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS + 300


@pytest.fixture(autouse=True)
def _server_database():
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite's clock is this machine's")


def _authorized(api) -> str:
    body = {
        "order_id": "o-1",
        "amount": 1000,
        "currency": "EUR",
        "source_token": "tok_success",
        "capture": False,
    }
    created = api.post(PAYMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert created.json()["status"] == "authorized", created.content
    return created.json()["id"]


def _in_flight(api, monkeypatch, url: str) -> None:
    """The capture's request claims (or takes over) the key, its handler
    still running (a slow gateway): its record is left in flight."""
    with monkeypatch.context() as m:
        m.setattr(idempotency, "_run", lambda *a, **k: Response({}, status=503))
        api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="cap-1")
    assert IdempotencyRecord.objects.filter(key="cap-1", state="in_flight").exists()


def _captures(pid: str) -> int:
    return PaymentAttempt.objects.filter(
        payment__public_id=pid, operation="capture"
    ).count()


def test_a_take_over_from_a_machine_behind_holds_off_the_next_retry(
    primary, api, monkeypatch
):
    pid = _authorized(api)
    url = f"{PAYMENTS}{pid}/capture/"
    _in_flight(api, monkeypatch, url)
    # Its worker died long ago, by the database's clock.
    dead = database_now() - timedelta(
        seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS + 60
    )
    IdempotencyRecord.objects.filter(key="cap-1").update(created_at=dead)

    # A retry on a machine behind takes it over; its run is still going.
    with whole_machine_clock(-SKEW):
        _in_flight(api, monkeypatch, url)
    taken = IdempotencyRecord.objects.get(key="cap-1").created_at

    retry = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="cap-1")

    assert retry.status_code == 409, retry.content
    assert retry.json()["error"]["code"] == "idempotency_key_in_use"
    assert _captures(pid) == 0
    assert abs((database_now() - taken).total_seconds()) < 60
