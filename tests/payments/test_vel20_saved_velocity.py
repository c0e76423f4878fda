"""Fraud screening on the saved-method path: a one-off charge of a saved
method is screened as an API payment is (velocity, amount, its level's
block or hold); a recurring run's payment is not (merchant-initiated), yet
every path's payments count toward the customer's velocity cap."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import (
    Payment,
    PaymentStatus,
    RecurringCharge,
    ReviewReason,
    ReviewState,
    SandboxCharge,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/payments/"
CUSTOMER = "cus_vel20"


@pytest.fixture
def method(primary):
    return services.payment_method_save(
        customer_reference=CUSTOMER, source_token="tok_success", idempotency_key="m1"
    )


def saved_charge(method, amount: int = 1_000, capture: bool = True) -> Payment:
    return services.saved_method_charge(
        saved_method=method,
        amount=amount,
        currency="EUR",
        order_id=f"order-{uuid.uuid4().hex[:8]}",
        idempotency_key=uuid.uuid4().hex,
        capture=capture,
    )


def api_create(api, customer: str = CUSTOMER) -> dict:
    response = api.post(
        URL,
        {
            "order_id": f"order-{uuid.uuid4().hex[:8]}",
            "amount": 1_000,
            "currency": "EUR",
            "source_token": "tok_success",
            "capture": True,
            "customer_reference": customer,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert response.status_code == 201, response.json()
    return response.json()


def recurring_run(method) -> Payment:
    due = timezone.now() - timedelta(minutes=1)
    recurring = RecurringCharge.objects.create(
        saved_method=method,
        amount=1_000,
        currency="EUR",
        interval="month",
        next_run_at=due,
    )
    assert services.recurring_charges_run() == 1
    recurring.refresh_from_db()
    return recurring.last_payment


def test_a_saved_method_charge_over_the_cap_is_flagged(method, settings):
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 2
    first, second = saved_charge(method), saved_charge(method)
    assert first.risk_reasons == [] and second.risk_reasons == []
    third = saved_charge(method)
    assert third.risk_reasons == ["velocity_customer"]
    assert third.risk_score == settings.FRAUD_RULE_SCORES["velocity_customer"]
    # A medium risk: authorized only, held for staff, as an API payment.
    assert third.status == PaymentStatus.AUTHORIZED
    assert third.review_state == ReviewState.PENDING
    assert third.review_reason == ReviewReason.FRAUD
    assert third.capture_requested and third.amount_captured == 0


def test_a_saved_method_charge_over_the_amount_threshold_is_held(method, settings):
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 5_000}
    payment = saved_charge(method, amount=6_000)
    assert payment.risk_reasons == ["amount_over_threshold"]
    assert payment.status == PaymentStatus.AUTHORIZED
    assert payment.review_state == ReviewState.PENDING
    # Staff's approval captures what the charge asked for.
    approved = services.payment_review_approve(payment=payment, actor="staff")
    assert approved.status == PaymentStatus.CAPTURED


def test_a_high_risk_saved_method_charge_is_blocked_before_the_gateway(
    method, settings
):
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 1
    settings.FRAUD_RULE_SCORES = {
        **settings.FRAUD_RULE_SCORES,
        "velocity_customer": 100,
    }
    saved_charge(method)
    charged = SandboxCharge.objects.count()
    blocked = saved_charge(method)
    assert blocked.status == PaymentStatus.BLOCKED
    assert blocked.failure_code == "payment_blocked"
    assert SandboxCharge.objects.count() == charged  # no gateway call


def test_the_same_key_again_returns_the_payment_unscreened(method, settings):
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 1
    key = uuid.uuid4().hex

    def charge() -> Payment:
        return services.saved_method_charge(
            saved_method=method,
            amount=1_000,
            currency="EUR",
            order_id="order-again",
            idempotency_key=key,
        )

    first = charge()
    again = charge()
    assert again.pk == first.pk and again.risk_score == 0
    assert Payment.objects.count() == 1


def test_api_payments_count_toward_a_saved_method_charge(api, method, settings):
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 2
    api_create(api)
    api_create(api)
    assert saved_charge(method).risk_reasons == ["velocity_customer"]


def test_saved_method_charges_count_toward_an_api_payment(api, method, settings):
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 2
    saved_charge(method)
    saved_charge(method)
    assert api_create(api)["risk"]["reasons"] == ["velocity_customer"]


def test_one_of_each_path_counts_toward_the_third(api, method, settings):
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 2
    recurring_run(method)
    api_create(api)
    assert saved_charge(method).risk_reasons == ["velocity_customer"]


def test_recurring_payments_count_toward_both_paths(api, method, settings):
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 1
    recurring_run(method)
    assert saved_charge(method).risk_reasons == ["velocity_customer"]
    assert api_create(api)["risk"]["reasons"] == ["velocity_customer"]
    # Another customer's count is their own.
    assert api_create(api, customer="cus_other")["risk"]["reasons"] == []


def test_a_recurring_run_is_not_screened(api, method, settings):
    """Merchant-initiated, on a subscription the customer set up: a run over
    the cap (or the amount threshold) is charged and carries no risk."""
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 1
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 500}
    api_create(api)
    saved_charge(method)
    payment = recurring_run(method)
    assert payment.status == PaymentStatus.CAPTURED
    # Not screened at all (no score), not only scored low.
    assert payment.risk_reasons == [] and payment.risk_score is None
    assert payment.review_state == ReviewState.NONE
