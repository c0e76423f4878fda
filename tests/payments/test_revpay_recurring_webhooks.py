"""A recurring slot's decline reported by the gateway's webhook, delivered
twice, out of order after the payment's success, or followed by the success
the gateway's non-final failure allows (the intent may still succeed)."""

import pytest
from django.test import Client

from payments.models import Payment, PaymentStatus, RecurringCharge, RecurringStatus
from payments.services.recurring import recurring_charges_report
from tests.payments.conftest import webhook_body, webhook_headers
from tests.payments.recurring_setup import (
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def lost(primary, recurring) -> Payment:
    """A slot's payment whose run got no answer; the gateway calls it ch_lost."""
    primary.settings = {"error_rate": 1.0}
    primary.save()
    assert recurring_charges_report().unknown == 1
    primary.settings = {}
    primary.save()
    payment = Payment.objects.get(metadata__recurring_charge=recurring.public_id)
    Payment.objects.filter(pk=payment.pk).update(
        account=primary, provider_reference="ch_lost"
    )
    return payment


def _deliver(event_type: str, capture_callbacks, **data: object) -> None:
    body = webhook_body(event_type, reference="ch_lost", **data)
    with capture_callbacks(execute=True):
        response = Client().post(
            "/webhooks/sbx-primary/",
            data=body,
            content_type="application/json",
            **webhook_headers(body),
        )
    assert response.status_code == 200


def _state(payment: Payment, recurring: RecurringCharge) -> tuple[str, str]:
    payment.refresh_from_db()
    recurring.refresh_from_db()
    return payment.status, recurring.status


def test_a_decline_delivered_twice_stops_once(
    lost, recurring, django_capture_on_commit_callbacks
):
    _deliver("payment.failed", django_capture_on_commit_callbacks)
    _deliver("payment.failed", django_capture_on_commit_callbacks)

    assert _state(lost, recurring) == (PaymentStatus.FAILED, RecurringStatus.FAILED)
    assert not lost.notes.filter(kind="recurring_slot_declined").exists()


def test_a_stale_decline_after_the_success_changes_nothing(
    lost, recurring, django_capture_on_commit_callbacks
):
    _deliver("payment.captured", django_capture_on_commit_callbacks, amount=1_500)
    _deliver("payment.failed", django_capture_on_commit_callbacks)

    assert _state(lost, recurring) == (PaymentStatus.CAPTURED, RecurringStatus.ACTIVE)


def test_a_failure_the_gateway_then_reports_paid_leaves_the_charge_running(
    lost, recurring, django_capture_on_commit_callbacks
):
    # A non-final failure (Stripe's payment_failed: the intent may still
    # succeed), then the success: the period is paid, nothing was declined.
    _deliver("payment.failed", django_capture_on_commit_callbacks)
    _deliver("payment.captured", django_capture_on_commit_callbacks, amount=1_500)

    assert _state(lost, recurring) == (PaymentStatus.CAPTURED, RecurringStatus.ACTIVE)


def test_a_charge_staff_cancelled_meanwhile_stays_cancelled(
    lost, recurring, django_capture_on_commit_callbacks
):
    _deliver("payment.failed", django_capture_on_commit_callbacks)
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.CANCELLED
    )
    _deliver("payment.captured", django_capture_on_commit_callbacks, amount=1_500)

    assert _state(lost, recurring) == (
        PaymentStatus.CAPTURED,
        RecurringStatus.CANCELLED,
    )
