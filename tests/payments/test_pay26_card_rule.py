"""pay26 (services, API): the saved card's rule follows what was learnt
last. A hard decline learnt late (a webhook) on an older charge is not
cleared by a newer charge's approval given before it was learnt; only an
approval given after it clears it. A stop of recurring payments (MAC 21,
``stop_payment``) is cleared only by a recurring charge's approval, never by
a one-off (customer-present) one. A decline the gateway reports after
reconciliation ended the payment not found is stored on it."""

import uuid

import pytest
from django.utils import timezone

from payments.models import Payment, PaymentStatus, RecurringStatus
from payments.providers.base import Decline
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.events import payment_event_apply
from payments.services.recurring import (
    recurring_charges_report,
)
from tests.factories import ProviderAccountFactory
from tests.payments.decline_answers import (
    STOPPED,
    card_error,
    intent_payment,
    stripe_failed_webhook,
)
from tests.payments.recurring_setup import (
    charges,
    given_back_not_found,
    new_charge_on,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db

LOST = card_error("lost_card", message="Your card was reported lost.")


@pytest.fixture
def stripe_account():
    return ProviderAccountFactory(
        provider="stripe", slug="stripe-main", credentials={"secret_key": "sk_test_x"}
    )


def resume(api, recurring):
    return api.post(
        f"/api/v1/recurring-charges/{recurring.public_id}/resume/",
        {},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def refused(response) -> bool:
    assert response.status_code == 400, response.content
    return response.json()["error"]["code"] == "payment_method_declined"


def one_off_approval(method, **fields) -> Payment:
    """A customer-present charge of the saved card, approved and captured."""
    values = {
        "order_id": f"order-{uuid.uuid4().hex[:8]}",
        "amount": 700,
        "currency": "EUR",
        "status": PaymentStatus.CAPTURED,
        "amount_authorized": 700,
        "amount_captured": 700,
        "idempotency_key": f"oneoff-{uuid.uuid4().hex}",
        "saved_method": method,
        **fields,
    }
    return Payment.objects.create(**values)


# --- 1. what was learnt last ------------------------------------------------


def test_a_late_hard_decline_beats_a_newer_approval_given_before_it(
    api, recurring, stripe_account
):
    method = recurring.saved_method
    older = intent_payment(stripe_account, saved_method=method)
    newer = one_off_approval(method)
    assert newer.pk > older.pk

    # Learnt after the newer charge was approved: the card is lost now.
    stripe_failed_webhook(stripe_account, LOST)

    older.refresh_from_db()
    assert (older.status, older.failure_code) == (
        PaymentStatus.FAILED,
        "lost_or_stolen",
    )
    assert refused(new_charge_on(api, method))


def test_an_approval_found_late_but_made_before_the_decline_was_learnt_keeps_it(
    api, recurring, stripe_account
):
    method = recurring.saved_method
    older = intent_payment(stripe_account, saved_method=method)
    lost_answer = one_off_approval(
        method, status=PaymentStatus.UNKNOWN, amount_authorized=0, amount_captured=0
    )
    stripe_failed_webhook(stripe_account, LOST)

    # Its answer lost, then found captured: the issuer approved it when it
    # was sent, before the loss was learnt.
    payment_event_apply(payment=lost_answer, kind="succeeded", amount=700)

    lost_answer.refresh_from_db()
    assert lost_answer.status == PaymentStatus.CAPTURED
    older.refresh_from_db()
    assert older.failure_code == "lost_or_stolen"
    assert refused(new_charge_on(api, method))


def test_an_approval_given_after_the_decline_was_learnt_clears_it(
    api, recurring, stripe_account
):
    method = recurring.saved_method
    intent_payment(stripe_account, saved_method=method)
    stripe_failed_webhook(stripe_account, LOST)
    assert refused(new_charge_on(api, method))

    one_off_approval(method)

    assert new_charge_on(api, method).status_code == 201


def test_a_soft_decline_learnt_after_a_hard_one_does_not_clear_it(
    api, recurring, stripe_account
):
    method = recurring.saved_method
    intent_payment(stripe_account, saved_method=method)
    stripe_failed_webhook(stripe_account, LOST)
    soft = intent_payment(
        stripe_account, saved_method=method, provider_reference="pi_other"
    )

    payment_event_apply(
        payment=soft,
        kind="failed",
        decline=Decline("insufficient funds", code="insufficient_funds"),
    )

    soft.refresh_from_db()
    assert soft.failure_code == "insufficient_funds"
    assert refused(new_charge_on(api, method))


# --- 2. a stop of recurring payments -----------------------------------------


def declined_run(monkeypatch, recurring, code: str, advice: str = "") -> Payment:
    def decline(self, request):
        raise Decline(
            "Your card was declined.",
            code=code,
            provider_code="generic_decline",
            advice_code=advice,
        )

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", decline)
    assert recurring_charges_report().declined == 1
    monkeypatch.undo()
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    (payment,) = payments_of(recurring)
    return payment


def test_a_one_off_approval_does_not_clear_a_stop_of_recurring_payments(
    api, monkeypatch, recurring
):
    declined_run(monkeypatch, recurring, "stop_payment", "do_not_try_again")

    # The customer pays a one-off order with the card, present.
    one_off_approval(recurring.saved_method)

    assert refused(resume(api, recurring))
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert refused(new_charge_on(api, recurring.saved_method))


def test_a_one_off_approval_clears_a_do_not_try_again_of_the_card(
    api, monkeypatch, recurring
):
    declined_run(monkeypatch, recurring, "card_declined", "do_not_try_again")

    one_off_approval(recurring.saved_method)

    assert resume(api, recurring).status_code == 200


def test_a_recurring_approval_after_the_stop_clears_it(api, monkeypatch, recurring):
    declined_run(monkeypatch, recurring, "stop_payment", "do_not_try_again")
    # The cardholder set up payments to us again: another recurring charge
    # of the card approved since.
    one_off_approval(
        recurring.saved_method,
        idempotency_key=f"recurring:rc_other:{timezone.now().isoformat()}",
        metadata={"recurring_charge": "rc_other"},
    )

    assert resume(api, recurring).status_code == 200


# --- 5. a decline reported after "not found" ------------------------------------


def test_a_payment_failed_webhook_after_not_found_keeps_the_decline(
    api, recurring, stripe_account
):
    method = recurring.saved_method
    payment = intent_payment(
        stripe_account,
        saved_method=method,
        status=PaymentStatus.FAILED,
        failure_code="not_found_at_provider",
        failure_message="The gateway has no record of the charge.",
    )

    stripe_failed_webhook(stripe_account, STOPPED)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert (payment.failure_code, payment.failure_provider_code) == (
        "stop_payment",
        "stop_payment_order",
    )
    assert payment.notes.filter(kind="provider_message").exists()
    assert refused(new_charge_on(api, method))


def test_a_second_decline_on_a_declined_payment_keeps_the_first(
    recurring, stripe_account
):
    payment = intent_payment(stripe_account, saved_method=recurring.saved_method)
    stripe_failed_webhook(stripe_account, LOST)

    stripe_failed_webhook(stripe_account, STOPPED, event_id="evt_second")

    payment.refresh_from_db()
    assert payment.failure_code == "lost_or_stolen"


def test_a_decline_after_not_found_leaves_the_periods_retry_alone(primary, recurring):
    lost = given_back_not_found(primary, recurring)
    assert recurring_charges_report().charged == 1  # the period's retry
    made = charges(primary)

    payment_event_apply(
        payment=lost,
        kind="failed",
        decline=Decline("insufficient funds", code="insufficient_funds"),
    )

    lost.refresh_from_db()
    assert (lost.status, lost.failure_code) == (
        PaymentStatus.FAILED,
        "insufficient_funds",
    )
    assert lost.notes.filter(kind="decline_after_not_found").exists()
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert recurring_charges_report().charged == 0
    assert charges(primary) == made
