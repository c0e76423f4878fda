"""pay32 (service): a one-off charge of a saved card (``saved_method_charge``)
reads the card's hard-decline rule (``card_rule``) before anything is sent.
A card the network said is lost or stolen, or "do not try again", or whose
holder stopped payments to us, is not charged again (card networks count
such retries against the merchant): the payment is stored failed with our
own code and message (the API's 402 shape of a failed payment), nothing
sent, its repeat answered the same; unless an approval since mended it."""

import uuid

import pytest
from django.utils import timezone

from integrations.models import ProviderCall
from payments import services
from payments.models import Payment, PaymentAttempt, PaymentStatus, SandboxCharge
from payments.services.messages import public_message, refusal_type
from payments.services.reconcile import RECURRING_KEY_PREFIX

pytestmark = pytest.mark.django_db

REFUSED = "payment_method_declined"


def charges(account) -> int:
    """Calls to the gateway: declined ones too (the sandbox keeps approvals)."""
    return ProviderCall.objects.filter(account=account).count()


def card(method, token: str) -> None:
    SandboxCharge.objects.filter(
        kind="method", reference=method.provider_method_id
    ).update(source_token=token)


@pytest.fixture
def method(primary):
    return services.payment_method_save(
        customer_reference="cus_32", source_token="tok_success", idempotency_key="m32"
    )


def charge(method, key: str | None = None) -> Payment:
    return services.saved_method_charge(
        saved_method=method,
        amount=1_500,
        currency="EUR",
        order_id=f"order-{uuid.uuid4().hex[:8]}",
        idempotency_key=key or uuid.uuid4().hex,
    )


def approval(method, **fields) -> Payment:
    """An approved charge of the card, made now (after any decline)."""
    return Payment.objects.create(
        order_id=f"order-{uuid.uuid4().hex[:8]}",
        amount=700,
        currency="EUR",
        status=PaymentStatus.CAPTURED,
        amount_authorized=700,
        amount_captured=700,
        saved_method=method,
        account=method.account,
        **{"idempotency_key": f"oneoff-{uuid.uuid4().hex}", **fields},
    )


def assert_refused(payment: Payment) -> None:
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == (PaymentStatus.FAILED, REFUSED)
    assert payment.failure_message == public_message(REFUSED)
    assert payment.failure_message != public_message("payment_failed")
    assert refusal_type(REFUSED) == "card_error"
    assert not PaymentAttempt.objects.filter(payment=payment).exists()


@pytest.mark.parametrize("token", ["tok_lost_card", "tok_stop_payment"])
def test_a_card_declined_for_good_is_not_charged_again(primary, method, token):
    card(method, token)
    first = charge(method)
    assert first.status == PaymentStatus.FAILED
    sent = charges(primary)

    again = charge(method)

    assert charges(primary) == sent  # nothing reached the gateway
    assert again.pk != first.pk
    assert_refused(again)
    # Staff see which decline held the card.
    note = again.notes.get(kind="card_declined_for_good")
    assert first.public_id in note.detail


def test_its_repeat_is_answered_the_same_and_sends_nothing(primary, method):
    card(method, "tok_lost_card")
    charge(method)
    sent = charges(primary)
    key = uuid.uuid4().hex
    refused = services.saved_method_charge(
        saved_method=method,
        amount=1_500,
        currency="EUR",
        order_id="order-32",
        idempotency_key=key,
    )

    repeat = services.saved_method_charge(
        saved_method=method,
        amount=1_500,
        currency="EUR",
        order_id="order-32",
        idempotency_key=key,
    )

    assert repeat.pk == refused.pk
    assert_refused(repeat)
    assert charges(primary) == sent


def test_do_not_try_again_advice_holds_the_card(primary, method):
    Payment.objects.create(
        order_id="order-advised",
        amount=900,
        currency="EUR",
        status=PaymentStatus.FAILED,
        failure_code="card_declined",
        failure_advice_code="do_not_try_again",
        failure_learnt_at=timezone.now(),
        saved_method=method,
        account=method.account,
    )
    sent = charges(primary)

    assert_refused(charge(method))
    assert charges(primary) == sent


def test_a_soft_decline_does_not_hold_the_card(primary, method):
    card(method, "tok_insufficient_funds")
    charge(method)
    card(method, "tok_success")

    paid = charge(method)

    assert paid.status == PaymentStatus.CAPTURED


def test_an_approval_since_the_decline_mends_the_card(primary, method):
    card(method, "tok_lost_card")
    charge(method)
    card(method, "tok_success")  # the issuer approves the card again
    approval(method)

    paid = charge(method)

    assert paid.status == PaymentStatus.CAPTURED


def test_a_stop_is_mended_only_by_a_recurring_approval(primary, method):
    card(method, "tok_stop_payment")
    charge(method)
    card(method, "tok_success")
    approval(method)  # a one-off's approval says nothing of the stop

    assert_refused(charge(method))

    approval(method, idempotency_key=f"{RECURRING_KEY_PREFIX}rc_x:{uuid.uuid4().hex}")
    assert charge(method).status == PaymentStatus.CAPTURED


def test_another_card_of_the_customer_is_charged(primary, method):
    card(method, "tok_lost_card")
    charge(method)
    other = services.payment_method_save(
        customer_reference="cus_32", source_token="tok_success", idempotency_key="o32"
    )

    assert charge(other).status == PaymentStatus.CAPTURED
