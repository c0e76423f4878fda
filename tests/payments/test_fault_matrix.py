"""The fault matrix (issue 17, first "Done when"): every fault, on create and
on capture, at a local fake of each of the four gateways; then reconciliation,
then the storefront's retry under a new key. What must hold afterwards:

- no double charge (the fake counts live charges per order, replays by key
  never counting twice);
- no charge the gateway holds is marked failed here, and each has one owner;
- no payment left unknown without an end (settled, or in the review queue).

How the fakes inject faults: tests/payments/fakes/base.py.
"""

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db.models import F
from rest_framework.test import APIClient

from payments.models import Payment, PaymentStatus, ReviewState
from payments.services import payments_reconcile_pending
from tests.payments.fakes.base import AFTER_ACTING, FAULTS, FakeGateway
from tests.payments.fakes.braintree import FakeBraintree
from tests.payments.fakes.paypal import FakePayPal
from tests.payments.fakes.square import FakeSquare
from tests.payments.fakes.stripe import FakeStripe

pytestmark = pytest.mark.django_db(transaction=False)

FAKES: dict[str, type[FakeGateway]] = {
    "stripe": FakeStripe,
    "square": FakeSquare,
    "paypal": FakePayPal,
    "braintree": FakeBraintree,
}
AMOUNT, CURRENCY = 1050, "USD"
OPEN = (PaymentStatus.UNKNOWN, PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION)
# Known defects the matrix found and that are not fixed yet: (provider,
# fault, phase) -> reason. Each is xfail(strict=True).
KNOWN: dict[tuple[str, str, str], str] = {}


# phase -> (the operation the fault is armed on, the create asks for capture).
# ``owed``: the capture a gateway that authorizes first (Square) is sent by
# the service right after the create, in the same storefront request.
PHASES = {
    "create": ("create", True),
    "capture": ("capture", False),
    "owed": ("capture", True),
}


def _cases() -> Iterator[object]:
    for provider, fake in FAKES.items():
        for phase in PHASES:
            if phase == "owed" and not fake.capture_after_authorize:
                continue
            for fault in FAULTS:
                reason = KNOWN.get((provider, fault, phase))
                marks = (
                    [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                )
                yield pytest.param(
                    provider,
                    fault,
                    phase,
                    marks=marks,
                    id=f"{provider}-{phase}-{fault}",
                )


@pytest.fixture
def gateway(request, monkeypatch) -> Iterator[FakeGateway]:
    fake = FAKES[request.param]()
    fake.server.start()
    fake.point_at(monkeypatch, fake.server.url)
    try:
        yield fake
    finally:
        fake.server.stop()


def _pay(api: APIClient, fake: FakeGateway, order: str, source: str, capture: bool):
    body = {
        "order_id": order,
        "amount": AMOUNT,
        "currency": CURRENCY,
        "source_token": source,
        "capture": capture,
    }
    return api.post(
        "/api/v1/payments/",
        body,
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def _capture(api: APIClient, public_id: str):
    return api.post(
        f"/api/v1/payments/{public_id}/capture/",
        {},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def _reconcile_now_and_later(fake: FakeGateway) -> None:
    """Reconciliation at once (the gateway's search index has not caught up
    yet), and again once the look-up lag (an hour at most) has passed."""
    payments_reconcile_pending()
    fake.catch_up()
    Payment.objects.update(
        created_at=F("created_at") - timedelta(hours=2),
        updated_at=F("updated_at") - timedelta(hours=2),
    )
    payments_reconcile_pending()


def _storefront_retry(api, fake, order, source, phase, first: Payment) -> None:
    """The storefront tries again under a new key where it was told nothing
    went through: the payment failed (a 402 or 503), or the capture did not
    happen (still authorized). An open outcome is left to reconciliation."""
    first.refresh_from_db()
    if phase != "capture" and first.status == PaymentStatus.FAILED:
        _pay(api, fake, order, source, capture=True)
    elif first.status == PaymentStatus.AUTHORIZED:
        _capture(api, first.public_id)


def _faulted_request(api, gateway, fault, phase, order, source, monkeypatch):
    """The storefront's request that meets the fault; returns its answer."""
    operation, capture = PHASES[phase]
    if phase == "capture":
        answer = _pay(api, gateway, order, source, capture=False)
        assert answer.status_code == 201, answer.content
    performed = gateway.performed[operation]
    owed = phase == "owed"
    with gateway.faulted(fault, operation, monkeypatch, after_create=owed):
        if phase == "capture":
            answer = _capture(api, answer.json()["id"])
        else:
            answer = _pay(api, gateway, order, source, capture=capture)
    # The fault hit where it was meant to: after the gateway acted, or before.
    acted = gateway.performed[operation] > performed
    assert acted == (fault in AFTER_ACTING), gateway.performed
    return answer


def _assert_invariants(fake: FakeGateway, order: str) -> None:
    assert fake.double_charged_orders() == {}, "double charge"
    payments = list(Payment.objects.filter(order_id=order))
    for charge in fake.live_charges():
        owners = [p for p in payments if p.provider_reference == charge.id]
        assert len(owners) == 1, f"charge {charge.id} has owners {owners}"
        assert owners[0].status != PaymentStatus.FAILED, "charge marked failed"
        if charge.state == "captured":
            assert owners[0].status == PaymentStatus.CAPTURED
    for payment in payments:
        ended = payment.status not in OPEN
        assert ended or payment.review_state == ReviewState.PENDING, (
            f"{payment.public_id} left {payment.status} without an end"
        )
    assert fake.live_charges(), "the order was never paid"


@pytest.mark.parametrize(
    ("gateway", "fault", "phase"), list(_cases()), indirect=["gateway"]
)
def test_fault_matrix(
    gateway: FakeGateway, fault: str, phase: str, api: APIClient, monkeypatch
) -> None:
    gateway.account()
    order = f"order-{uuid.uuid4().hex[:12]}"
    source = gateway.source(
        order_id=order, amount=AMOUNT, currency=CURRENCY, capture=PHASES[phase][1]
    )
    answer = _faulted_request(api, gateway, fault, phase, order, source, monkeypatch)
    assert answer.status_code < 500 or answer.status_code == 503, answer.content
    first = Payment.objects.get(order_id=order)
    _reconcile_now_and_later(gateway)
    _storefront_retry(api, gateway, order, source, phase, first)
    _reconcile_now_and_later(gateway)
    _assert_invariants(gateway, order)
