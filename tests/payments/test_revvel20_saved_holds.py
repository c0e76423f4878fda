"""Review of vel20's screening of one-off saved-method charges: a medium risk
is held (authorized only) and settled by staff exactly as an API payment's
hold is; a high risk is blocked with its error stored and the API's event;
recurring runs stay unscreened."""

import uuid

import pytest

from integrations.models import Event
from payments import services
from payments.models import (
    Payment,
    PaymentAttempt,
    PaymentStatus,
    ReviewState,
    SandboxCharge,
)
from payments.services.errors import InvalidState

pytestmark = pytest.mark.django_db

CUSTOMER = "cus_revvel20"


@pytest.fixture
def method(primary):
    return services.payment_method_save(
        customer_reference=CUSTOMER, source_token="tok_success", idempotency_key="m1"
    )


@pytest.fixture
def held(settings):
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 5_000}


def charge(method, *, amount: int = 6_000, capture: bool = True, key: str = ""):
    return services.saved_method_charge(
        saved_method=method,
        amount=amount,
        currency="EUR",
        # A key's retry is for its own order (another is refused).
        order_id=f"order-{key or uuid.uuid4().hex[:8]}",
        idempotency_key=key or uuid.uuid4().hex,
        capture=capture,
    )


def events(payment: Payment) -> list[str]:
    subject = f"payment:{payment.public_id}"
    return list(
        Event.objects.filter(subject=subject)
        .order_by("pk")
        .values_list("name", flat=True)
    )


def gateway_ops(payment: Payment) -> list[str]:
    return list(
        PaymentAttempt.objects.filter(payment=payment)
        .order_by("pk")
        .values_list("operation", flat=True)
    )


def test_a_held_saved_charge_is_captured_once_on_approval(method, held):
    payment = charge(method)
    assert (payment.status, payment.review_state) == ("authorized", "pending")
    approved = services.payment_review_approve(payment=payment, actor="staff")
    assert approved.status == PaymentStatus.CAPTURED
    assert approved.review_state == ReviewState.APPROVED
    with pytest.raises(InvalidState):
        services.payment_review_approve(payment=approved, actor="staff")
    assert gateway_ops(payment) == ["authorize", "capture"]
    sandbox = SandboxCharge.objects.get(reference=approved.provider_reference)
    assert sandbox.amount_captured == 6_000
    assert events(payment) == ["payment.authorized", "payment.captured"]


def test_a_held_saved_charge_is_voided_on_rejection(method, held):
    payment = charge(method)
    rejected = services.payment_review_reject(payment=payment, actor="staff")
    assert rejected.status == PaymentStatus.VOIDED
    assert rejected.review_state == ReviewState.REJECTED
    assert rejected.amount_captured == 0
    assert gateway_ops(payment) == ["authorize", "void"]
    sandbox = SandboxCharge.objects.get(reference=rejected.provider_reference)
    assert sandbox.status == "voided" and sandbox.amount_captured == 0
    assert events(payment) == ["payment.authorized", "payment.voided"]


def test_a_held_authorize_only_saved_charge_is_approved_without_a_capture(method, held):
    payment = charge(method, capture=False)
    approved = services.payment_review_approve(payment=payment, actor="staff")
    assert (approved.status, approved.review_state) == ("authorized", "approved")
    assert gateway_ops(payment) == ["authorize"]


def test_a_held_saved_charge_cannot_be_captured_by_the_storefront(method, held):
    payment = charge(method)
    with pytest.raises(services.PaymentError):
        services.payment_capture(payment=payment, storefront=True)
    payment.refresh_from_db()
    assert payment.amount_captured == 0


def test_a_blocked_saved_charge_stores_its_error_and_tells_the_storefront(
    method, settings
):
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 5_000}
    settings.FRAUD_RULE_SCORES = {
        **settings.FRAUD_RULE_SCORES,
        "amount_over_threshold": 100,
    }
    blocked = charge(method)
    blocked.refresh_from_db()
    assert blocked.status == PaymentStatus.BLOCKED
    assert blocked.failure_code == "payment_blocked"
    assert blocked.risk_reasons == ["amount_over_threshold"]
    assert gateway_ops(blocked) == []
    assert events(blocked) == ["payment.failed"]


def test_a_repeated_key_of_a_blocked_charge_charges_nothing(method, settings):
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 5_000}
    settings.FRAUD_RULE_SCORES = {
        **settings.FRAUD_RULE_SCORES,
        "amount_over_threshold": 100,
    }
    first = charge(method, key="same")
    again = charge(method, key="same")
    assert again.pk == first.pk and again.status == PaymentStatus.BLOCKED
    assert SandboxCharge.objects.filter(kind="payment").count() == 0
