"""Recurring charges: a gateway's "duplicate" is never a decline (the period
may be charged already: found and booked, or left unknown for
reconciliation).

Braintree answers are shaped like its XML (tests/fixtures/braintree/): a
sale it rejects as a duplicate (``gateway_rejection_reason`` ``duplicate``)
and the transaction search reconciliation uses (order id and amount)."""

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from integrations.models import ProviderAccount
from payments import services
from payments.models import (
    Payment,
    PaymentStatus,
    RecurringCharge,
    RecurringStatus,
    ReviewReason,
    ReviewState,
    SavedPaymentMethod,
)
from payments.services.recurring import recurring_charges_report
from tests.factories import ProviderAccountFactory
from tests.payments.test_reconcile_providers import BT_BASE, BT_MERCHANT, FAST, XML, bt

pytestmark = pytest.mark.django_db

BT_TXN = "k9y7n3pq"


@pytest.fixture
def braintree(db) -> ProviderAccount:
    return ProviderAccountFactory(
        provider="braintree",
        slug="braintree-main",
        priority=1,
        settings=dict(FAST),
        credentials={
            "merchant_id": BT_MERCHANT,
            "public_key": "x8t4pq2kz6w9yj3n",
            "private_key": "5c1e9a7f3b2d4e6f8a0b1c2d3e4f5a6b",
        },
    )


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _braintree_method(rsps) -> SavedPaymentMethod:
    rsps.post(
        f"{BT_BASE}/customers", status=201, body=bt("customer_created.xml"), **XML
    )
    return services.payment_method_save(
        customer_reference="cust-1",
        source_token="fake-valid-nonce",
        idempotency_key="m1",
    )


def _monthly(method: SavedPaymentMethod, *, amount: int, currency: str):
    return RecurringCharge.objects.create(
        saved_method=method,
        amount=amount,
        currency=currency,
        interval="month",
        next_run_at=timezone.now() - timedelta(minutes=1),
    )


def _slot_order_id(recurring: RecurringCharge) -> str:
    return f"{recurring.public_id}-{recurring.next_run_at:%Y%m%d%H%M}"


def _rejected_as_duplicate(order_id: str) -> str:
    body = bt("error_gateway_rejected.xml")
    return (
        body.replace("Gateway Rejected: cvv", "Gateway Rejected: duplicate")
        .replace(
            "<gateway-rejection-reason>cvv<", "<gateway-rejection-reason>duplicate<"
        )
        .replace("order-1001", order_id)
    )


def _sale_found(rsps, order_id: str, *, found: bool = True) -> None:
    ids = bt("transaction_search_ids.xml")
    rsps.post(
        f"{BT_BASE}/transactions/advanced_search_ids",
        body=ids if found else ids.replace(f"<item>{BT_TXN}</item>", ""),
        **XML,
    )
    settled = (
        bt("transaction_search_authorized.xml")
        .replace(
            "<status>authorized</status>", "<status>submitted_for_settlement</status>"
        )
        .replace("order-1001", order_id)
    )
    rsps.post(f"{BT_BASE}/transactions/advanced_search", body=settled, **XML)


def _payments_of(recurring: RecurringCharge) -> list[Payment]:
    return list(
        Payment.objects.filter(metadata__recurring_charge=recurring.public_id).order_by(
            "pk"
        )
    )


# --- 1. a duplicate at the gateway is not a decline ------------------------------


def test_a_sale_rejected_as_a_duplicate_is_found_and_booked_not_declined(
    braintree, rsps
):
    # The gateway already holds this period's sale (an earlier try of the
    # slot, say): its duplicate check refuses the new one. The period is
    # charged: the sale is found by the slot's order id and booked.
    method = _braintree_method(rsps)
    recurring = _monthly(method, amount=1050, currency="USD")
    order_id = _slot_order_id(recurring)
    rsps.post(
        f"{BT_BASE}/transactions",
        status=422,
        body=_rejected_as_duplicate(order_id),
        **XML,
    )
    _sale_found(rsps, order_id)

    run = recurring_charges_report()

    assert (run.charged, run.declined, run.errors) == (1, 0, [])
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    [payment] = _payments_of(recurring)
    assert (payment.status, payment.amount_captured) == (PaymentStatus.CAPTURED, 1050)
    assert payment.provider_reference == BT_TXN
    assert recurring.last_payment_id == payment.pk


def test_a_duplicate_whose_sale_is_not_found_yet_stays_unknown_not_declined(
    braintree, rsps
):
    # Braintree's search lags behind a new sale: not found is no answer yet.
    # The payment stays unknown for reconciliation; the charge goes on.
    method = _braintree_method(rsps)
    recurring = _monthly(method, amount=1050, currency="USD")
    order_id = _slot_order_id(recurring)
    rsps.post(
        f"{BT_BASE}/transactions",
        status=422,
        body=_rejected_as_duplicate(order_id),
        **XML,
    )
    _sale_found(rsps, order_id, found=False)

    run = recurring_charges_report()

    assert (run.charged, run.unknown, run.declined) == (0, 1, 0)
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    [payment] = _payments_of(recurring)
    assert payment.status == PaymentStatus.UNKNOWN
    assert payment.account_id == braintree.pk


def test_a_slot_whose_payment_was_ended_as_a_duplicate_charge_is_not_declined(
    primary,
):
    # Reconciliation ended the slot's payment as a duplicate_charge: the
    # gateway's charge for it is another payment's, so the period was
    # charged (staff see it in review). The slot, given back after a fault,
    # is neither charged a second time nor recorded as the card's decline.
    method = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    recurring = _monthly(method, amount=1_500, currency="EUR")
    slot = recurring.next_run_at
    Payment.objects.create(
        order_id=_slot_order_id(recurring),
        amount=1_500,
        currency="EUR",
        capture_requested=True,
        status=PaymentStatus.FAILED,
        failure_code="duplicate_charge",
        failure_message="The charge belongs to another payment.",
        review_state=ReviewState.PENDING,
        review_reason=ReviewReason.DUPLICATE_CHARGE,
        metadata={"recurring_charge": recurring.public_id},
        idempotency_key=f"recurring:{recurring.public_id}:{slot.isoformat()}",
    )

    run = recurring_charges_report()

    assert run.declined == 0
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert recurring.next_run_at > slot
    assert [p.status for p in _payments_of(recurring)] == [PaymentStatus.FAILED]
