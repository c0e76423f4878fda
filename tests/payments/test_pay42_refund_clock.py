"""pay42: a refund's send in flight is judged by the database's clock.

The retrier sends again a pending refund with no retry time once it has not
been written for ``_ORPHAN_AFTER`` (its send died with its process), by the
database's time; the refund's row was stamped with the requesting machine's
clock. A refund requested on a machine behind, its send still at the
gateway, was taken for an orphan at once and sent a second time beside it."""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import shared_by_machines, whole_machine_clock
from payments import services
from payments.models import PaymentAttempt, PaymentStatus, Refund
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.refunds import refunds_retry_due

pytestmark = pytest.mark.django_db(transaction=True)

SKEW = int(timedelta(minutes=30).total_seconds())


@pytest.fixture(autouse=True)
def _server_database():
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite's clock is this machine's")


def _captured():
    payment = services.payment_create(
        order_id="o-1",
        amount=1000,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key="pay42-refund",
    )
    assert payment.status == PaymentStatus.CAPTURED
    return payment


def _stopped(*args, **kwargs):
    # Stands for a send still at the gateway: nothing recorded after the call.
    raise SystemExit(1)


def test_a_refund_from_a_machine_behind_is_not_sent_again_while_in_flight(
    primary, monkeypatch
):
    payment = _captured()
    with monkeypatch.context() as m:
        m.setattr(SandboxPaymentsAdapter, "refund", _stopped)
        with whole_machine_clock(-SKEW), pytest.raises(SystemExit):
            services.payment_refund(payment=payment, amount=400, idempotency_key="r-1")
    refund = Refund.objects.get(idempotency_key="r-1")
    assert refund.status == "pending" and refund.next_attempt_at is None

    assert refunds_retry_due() == 0

    assert (
        PaymentAttempt.objects.filter(payment=payment, operation="refund").count() == 1
    )


def test_a_refund_is_stamped_with_the_database_clock(primary):
    payment = _captured()
    with whole_machine_clock(-SKEW):
        services.payment_refund(payment=payment, amount=400, idempotency_key="r-1")
    refund = Refund.objects.get(idempotency_key="r-1")
    for stamp in (refund.created_at, refund.updated_at):
        assert abs((database_now() - stamp).total_seconds()) < 60
    payment.refresh_from_db()
    assert abs((database_now() - payment.updated_at).total_seconds()) < 60
