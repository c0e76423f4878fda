"""Reconciliation and failover that cannot misbook (issue 17, part 8), over
PayPal answers shaped like PayPal's published examples (tests/fixtures/paypal/,
from checkout_orders_v2.json): one charge never belongs to two payments, an
approved order is never failed over to an account that cannot know it, and a
capture PayPal did not perform is re-sent under the same PayPal-Request-Id."""

import uuid
from datetime import timedelta

import pytest
import requests
import responses
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from payments import services
from payments.models import Payment, PaymentStatus, ReviewReason, ReviewState
from tests.factories import ProviderAccountFactory
from tests.payments.test_reconcile_providers import FAST, load

pytestmark = pytest.mark.django_db

PAYPAL = "https://api-m.sandbox.paypal.com"
ORDER = "5O190127TN364715T"
ORDER_URL = f"{PAYPAL}/v2/checkout/orders/{ORDER}"
CREDENTIALS = {"client_id": "AbCdEf-client", "client_secret": "EFgh-secret"}


def paypal_account(slug: str, priority: int, **fields):
    return ProviderAccountFactory(
        provider="paypal",
        slug=slug,
        priority=priority,
        settings=dict(FAST),
        credentials=CREDENTIALS,
        **fields,
    )


@pytest.fixture
def pp():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{PAYPAL}/v1/oauth2/token", json=load("paypal", "oauth_token.json"))
        yield rsps


def create(key: str | None = None) -> Payment:
    return services.payment_create(
        order_id="order-1001",  # the order the approved PayPal order names
        amount=1050,
        currency="USD",
        source_token=ORDER,
        capture=True,
        idempotency_key=key or uuid.uuid4().hex,
    )


def captures(rsps) -> list:
    return [c for c in rsps.calls if c.request.url == f"{ORDER_URL}/capture"]


def test_a_capture_paypal_did_not_perform_is_re_sent_with_the_same_request_id(pp):
    paypal_account("paypal-main", 1)
    pp.get(ORDER_URL, json=load("paypal", "order_approved_capture.json"))
    pp.post(
        f"{ORDER_URL}/capture", status=500, json=load("paypal", "error_internal.json")
    )
    payment = create()
    assert payment.status == PaymentStatus.UNKNOWN
    pp.replace(
        responses.POST,
        f"{ORDER_URL}/capture",
        json=load("paypal", "order_captured.json"),
    )

    payment = services.payment_reconcile(payment=payment)

    assert (payment.status, payment.amount_captured) == (PaymentStatus.CAPTURED, 1050)
    keys = {c.request.headers["PayPal-Request-Id"] for c in captures(pp)}
    assert len(keys) == 1  # every capture, first and re-sent, under one key


def test_an_order_that_can_no_longer_be_captured_ends_failed(pp):
    paypal_account("paypal-main", 1)
    pp.get(ORDER_URL, json=load("paypal", "order_approved_capture.json"))
    pp.post(
        f"{ORDER_URL}/capture", status=500, json=load("paypal", "error_internal.json")
    )
    payment = create()
    pp.replace(
        responses.POST,
        f"{ORDER_URL}/capture",
        status=422,
        json=load("paypal", "error_instrument_declined.json"),
    )

    payment = services.payment_reconcile(payment=payment)

    assert payment.status == PaymentStatus.FAILED
    assert payment.amount_captured == 0


def test_one_paypal_capture_is_never_booked_as_two_payments(pp):
    paypal_account("paypal-main", 1)
    pp.get(ORDER_URL, json=load("paypal", "order_approved_capture.json"))
    pp.post(
        f"{ORDER_URL}/capture", status=500, json=load("paypal", "error_internal.json")
    )
    first = create()
    assert (first.status, first.provider_reference) == (PaymentStatus.UNKNOWN, ORDER)
    # The storefront pays the same order again under a new key: captured.
    pp.replace(
        responses.POST,
        f"{ORDER_URL}/capture",
        json=load("paypal", "order_captured.json"),
    )
    second = create()
    assert second.status == PaymentStatus.CAPTURED
    pp.replace(responses.GET, ORDER_URL, json=load("paypal", "order_captured.json"))

    first = services.payment_reconcile(payment=first)

    assert (first.status, first.amount_captured) == (PaymentStatus.FAILED, 0)
    assert first.failure_code == "duplicate_charge"
    assert (first.review_state, first.review_reason) == (
        ReviewState.PENDING,
        ReviewReason.DUPLICATE_CHARGE,
    )
    second.refresh_from_db()
    assert (second.status, second.amount_captured) == (PaymentStatus.CAPTURED, 1050)


def test_the_database_refuses_a_second_owner_of_one_charge():
    account = paypal_account("paypal-main", 1)
    values = {
        "order_id": "o",
        "amount": 100,
        "currency": "USD",
        "account": account,
        "provider_reference": ORDER,
        "status": PaymentStatus.CAPTURED,
        "amount_authorized": 100,
        "amount_captured": 100,
    }
    Payment.objects.create(**values)
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(**values)
    # Payments that hold no money may name it (an unknown one tried it).
    Payment.objects.create(
        **{
            **values,
            "status": PaymentStatus.UNKNOWN,
            "amount_authorized": 0,
            "amount_captured": 0,
        }
    )


def test_the_owning_accounts_outage_is_a_503_never_a_decline(pp, api: APIClient):
    paypal_account("paypal-owner", 1, breaker_mode="forced_open")
    paypal_account("paypal-other", 2)
    pp.get(ORDER_URL, status=404, json=load("paypal", "error_resource_not_found.json"))
    body = {
        "order_id": "order-42",
        "amount": 1050,
        "currency": "USD",
        "source_token": ORDER,
    }

    for _ in range(2):  # the same again on retry, with the same key
        response = api.post(
            "/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
        )
        assert response.status_code == 503, response.content
        assert response.json()["error"]["code"] == "no_provider_available"
    assert not captures(pp)


def test_an_order_no_account_knows_is_declined(pp, api: APIClient):
    paypal_account("paypal-a", 1)
    paypal_account("paypal-b", 2)
    pp.get(ORDER_URL, status=404, json=load("paypal", "error_resource_not_found.json"))

    response = api.post(
        "/api/v1/payments/",
        {"order_id": "o", "amount": 1050, "currency": "USD", "source_token": ORDER},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-2",
    )

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "not_found"


def test_an_unknown_payment_past_the_review_age_goes_to_review(pp):
    paypal_account("paypal-main", 1)
    pp.get(ORDER_URL, json=load("paypal", "order_approved_capture.json"))
    pp.post(f"{ORDER_URL}/capture", body=requests.ReadTimeout("read timed out"))
    payment = create()
    Payment.objects.filter(pk=payment.pk).update(
        created_at=payment.created_at - timedelta(hours=25)
    )

    payment = services.payment_reconcile(payment=payment)

    assert payment.status == PaymentStatus.UNKNOWN  # never guessed
    assert (payment.review_state, payment.review_reason) == (
        ReviewState.PENDING,
        ReviewReason.UNRESOLVED,
    )
