"""pay42: a capture or void in flight is judged by the database's clock.

A follow-up's attempt was stored with its worker's clock (``created_at``)
and another request judged it still under way by its own clock (the
in-flight timeout): a worker behind stored an attempt that a correct one
took for a dead worker's at once, and a worker ahead let any attempt go.
Either way a void went to the gateway while a capture was being sent."""

import pytest
from django.conf import settings

from integrations.testing.clocks import (
    machine_clock,
    shared_by_machines,
    whole_machine_clock,
)
from payments import services
from payments.models import PaymentAttempt, PaymentStatus
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.errors import FollowUpInProgress
from tests.payments.conftest import authorized_payment

pytestmark = pytest.mark.django_db(transaction=True)

# Past the in-flight timeout (300 s by default).
SKEW = settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS + 300


@pytest.fixture(autouse=True)
def _server_database():
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite's clock is this machine's")


def _killed(*args, **kwargs):
    raise SystemExit(1)  # the worker died mid-call (gunicorn's timeout)


def _capture_dies_on_a_machine(monkeypatch, payment, seconds: float) -> None:
    with monkeypatch.context() as m:
        m.setattr(SandboxPaymentsAdapter, "capture", _killed)
        with whole_machine_clock(seconds), pytest.raises(SystemExit):
            services.payment_capture(payment=payment)
    assert PaymentAttempt.objects.filter(
        payment=payment, operation="capture", outcome="in_progress"
    ).exists()


def test_a_capture_sent_from_a_machine_behind_still_holds_off_a_void(
    primary, monkeypatch
):
    payment = authorized_payment()
    _capture_dies_on_a_machine(monkeypatch, payment, -SKEW)

    with pytest.raises(FollowUpInProgress) as refused:
        services.payment_void(payment=payment)

    assert refused.value.code == "capture_in_progress"


def test_a_void_on_a_machine_ahead_still_waits_for_a_capture_in_flight(
    primary, monkeypatch
):
    payment = authorized_payment()
    _capture_dies_on_a_machine(monkeypatch, payment, 0)

    with machine_clock(SKEW), pytest.raises(FollowUpInProgress) as refused:
        services.payment_void(payment=payment)

    assert refused.value.code == "capture_in_progress"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.AUTHORIZED


def test_a_follow_up_attempt_is_stamped_with_the_database_clock(primary, monkeypatch):
    payment = authorized_payment()
    with whole_machine_clock(-SKEW):
        services.payment_void(payment=payment)

    from integrations.clock import database_now

    attempt = PaymentAttempt.objects.get(payment=payment, operation="void")
    assert abs((database_now() - attempt.created_at).total_seconds()) < 60
