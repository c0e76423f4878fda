"""The set-up the Idempotency-Key clock tests share (pay42, r-pay42): an
authorization through the API, a capture's claim left in flight, the
captures it made, and the skew past the in-flight timeout (imported; the
autouse fixture ``server_database_only``)."""

import pytest
from django.conf import settings
from rest_framework.response import Response

from integrations.api import idempotency
from integrations.models import IdempotencyRecord
from integrations.testing.clocks import shared_by_machines
from payments.models import PaymentAttempt

PAYMENTS = "/api/v1/payments/"
# Past the in-flight timeout (300 s by default).
SKEW = settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS + 300


@pytest.fixture(name="server_database", autouse=True)
def server_database_only() -> None:
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite's clock is this machine's")


def authorized(api) -> str:
    """An authorized payment's id, created under the key ``pay-1``."""
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


def in_flight(api, monkeypatch, url: str) -> None:
    """The capture's request claims (or takes over) the key ``cap-1``, its
    handler still running (a slow gateway): its record is left in flight."""
    with monkeypatch.context() as m:
        m.setattr(idempotency, "_run", lambda *a, **k: Response({}, status=503))
        api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="cap-1")
    assert IdempotencyRecord.objects.filter(key="cap-1", state="in_flight").exists()


def captures(pid: str) -> int:
    return PaymentAttempt.objects.filter(
        payment__public_id=pid, operation="capture"
    ).count()
