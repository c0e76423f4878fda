"""A failed recurring charge (its period declined) resumed within that
period restarts now; the gateway then reports the declined try paid after
all. That period is paid: before the run charged the restart, the restart is
taken back (the next date is the paid period's end); after it, the customer
paid twice for the same days, so the late payment goes to staff's review."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import (
    Payment,
    PaymentStatus,
    RecurringCharge,
    RecurringStatus,
    ReviewState,
    SandboxCharge,
    SavedPaymentMethod,
)
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.recurring import recurring_charges_report
from payments.services.slots import slot_after, slot_of
from tests.payments.recurring_setup import (
    charges,
    gateway_says,
    paid_lookup,
    payments_of,
)

pytestmark = pytest.mark.django_db


def card(method: SavedPaymentMethod, token: str) -> None:
    SandboxCharge.objects.filter(
        kind="method", reference=method.provider_method_id
    ).update(source_token=token)


@pytest.fixture
def declined(api, primary) -> tuple[RecurringCharge, Payment]:
    """A monthly charge whose first period was declined just now (stopped),
    resumed at once on the mended card; the declined try is known to the
    gateway as ch_declined."""
    method = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    body = {
        "payment_method": method.public_id,
        "amount": 1_500,
        "currency": "EUR",
        "interval": "month",
        # Minutes before the resume: the two periods' order ids differ.
        "first_run_at": (timezone.now() - timedelta(minutes=4)).isoformat(),
    }
    response = api.post(
        "/api/v1/customers/cus_1/recurring-charges/",
        body,
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert response.status_code == 201, response.content
    card(method, "tok_decline")
    assert recurring_charges_report().declined == 1
    recurring = RecurringCharge.objects.get(public_id=response.json()["id"])
    assert recurring.status == RecurringStatus.FAILED
    (payment,) = payments_of(recurring)
    Payment.objects.filter(pk=payment.pk).update(
        account=primary, provider_reference="ch_declined"
    )
    card(method, "tok_success")
    response = api.post(
        f"/api/v1/recurring-charges/{recurring.public_id}/resume/",
        {},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert response.status_code == 200, response.content
    payment.refresh_from_db()
    return recurring, payment


def test_paid_late_before_the_restart_ran_takes_the_restart_back(
    primary, declined, django_capture_on_commit_callbacks
):
    recurring, late = declined
    paid_until = slot_after(recurring, slot_of(late.idempotency_key))

    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_declined")

    late.refresh_from_db()
    assert late.status == PaymentStatus.CAPTURED
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert recurring.next_run_at > timezone.now()
    assert recurring.next_run_at == paid_until
    assert recurring_charges_report().charged == 0
    assert payments_of(recurring) == [late]
    assert charges(primary) == 0


def test_paid_late_after_the_restart_was_charged_goes_to_review(
    primary, declined, django_capture_on_commit_callbacks
):
    recurring, late = declined
    assert recurring_charges_report().charged == 1

    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_declined")

    late.refresh_from_db()
    assert late.status == PaymentStatus.CAPTURED
    assert late.review_state == ReviewState.PENDING
    note = late.notes.get(kind="recurring_charged_twice")
    restarted = payments_of(recurring)[-1]
    assert restarted.public_id in note.title


def test_paid_late_while_the_restart_is_open_goes_to_review_once_it_is_found_paid(
    primary, declined, django_capture_on_commit_callbacks, monkeypatch
):
    recurring, late = declined
    primary.settings = {"error_rate": 1.0}
    primary.save()
    assert recurring_charges_report().unknown == 1
    primary.settings = {}
    primary.save()
    restarted = payments_of(recurring)[-1]
    assert restarted.status == PaymentStatus.UNKNOWN

    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_declined")
    late.refresh_from_db()
    assert not late.notes.filter(kind="recurring_charged_twice").exists()
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", paid_lookup)
    services.payments_reconcile_pending()

    restarted.refresh_from_db()
    assert restarted.status == PaymentStatus.CAPTURED
    late.refresh_from_db()
    assert late.review_state == ReviewState.PENDING
    note = late.notes.get(kind="recurring_charged_twice")
    assert restarted.public_id in note.title
