"""revpay32: a one-off charge of a card the hard-decline rule holds (pay32's
``_held_card_refuse``) through its edges: the storefront is told, a fraud
hold refused is closed by staff as any failed hold, a decline being stored
meanwhile is waited for (real transactions, in threads)."""

import threading
import time
import uuid

import pytest
from django.db import OperationalError, transaction

from integrations.models import Event, ProviderCall
from integrations.testing.clocks import shared_by_machines
from payments import services
from payments.models import Payment, PaymentStatus, ReviewState, SandboxCharge
from payments.services import methods
from payments.services.state import Change, advance
from tests.payments.recurring_setup import in_thread

REFUSED = "payment_method_declined"


@pytest.fixture
def method(primary):
    return services.payment_method_save(
        customer_reference="cus_rp32", source_token="tok_success", idempotency_key="r32"
    )


def card(method, token: str) -> None:
    SandboxCharge.objects.filter(
        kind="method", reference=method.provider_method_id
    ).update(source_token=token)


def charge(method, amount: int = 1_500, key: str = "") -> Payment:
    return services.saved_method_charge(
        saved_method=method,
        amount=amount,
        currency="EUR",
        # A key's retry is for its own order (another is refused).
        order_id=f"order-{key or uuid.uuid4().hex[:8]}",
        idempotency_key=key or uuid.uuid4().hex,
    )


def events(payment: Payment) -> list[tuple[str, str]]:
    found = Event.objects.filter(subject=f"payment:{payment.public_id}")
    return [(e.name, e.payload["status"]) for e in found.order_by("pk")]


@pytest.mark.django_db
def test_the_storefront_is_told_of_the_refusal_once(primary, method):
    card(method, "tok_lost_card")
    charge(method)
    key = uuid.uuid4().hex

    refused = charge(method, key=key)
    repeat = charge(method, key=key)

    assert repeat.pk == refused.pk
    assert events(refused) == [("payment.failed", "failed")]


@pytest.mark.django_db
def test_a_fraud_hold_refused_is_closed_by_staff_as_a_failed_hold(
    primary, method, settings
):
    card(method, "tok_lost_card")
    charge(method)
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 5_000}
    sent = ProviderCall.objects.filter(account=primary).count()

    held = charge(method, amount=6_000)

    assert (held.status, held.failure_code) == (PaymentStatus.FAILED, REFUSED)
    assert ProviderCall.objects.filter(account=primary).count() == sent
    rejected = services.payment_review_reject(payment=held, actor="staff")
    assert rejected.review_state == ReviewState.REJECTED


@pytest.mark.django_db(transaction=True)
def test_a_decline_being_stored_meanwhile_is_waited_for(primary, method):
    if not shared_by_machines():
        pytest.skip("needs a server database")
    card(method, "tok_success")
    other = charge(method)  # an approval before the decline
    assert other.status == PaymentStatus.CAPTURED
    pending = Payment.objects.create(
        order_id="order-lost",
        amount=900,
        currency="EUR",
        status=PaymentStatus.PENDING,
        saved_method=method,
        account=method.account,
        idempotency_key=f"oneoff-{uuid.uuid4().hex}",
    )
    stored, release = threading.Event(), threading.Event()

    def decline() -> None:
        with transaction.atomic():
            advance(
                pending,
                Change(
                    status=PaymentStatus.FAILED,
                    fields={"failure_code": "lost_or_stolen"},
                ),
            )
            stored.set()  # the card's lock held until this commits
            release.wait(10)
            time.sleep(0.5)

    errors: list[BaseException] = []
    thread = in_thread(decline, errors)
    assert stored.wait(10)
    sent = ProviderCall.objects.filter(account=primary).count()
    release.set()

    refused = charge(method)

    thread.join(10)
    assert errors == []
    assert (refused.status, refused.failure_code) == (PaymentStatus.FAILED, REFUSED)
    assert ProviderCall.objects.filter(account=primary).count() == sent


@pytest.mark.django_db
def test_a_fault_reading_the_card_rule_frees_the_key(primary, method, monkeypatch):
    """A fault of ours before the gateway call (here the rule's read: a lock
    or statement timeout, a dropped connection) ends the payment ``not_sent``
    with its key freed, as one in ``saved_method_send`` does: not ``pending``
    and holding its key until the unsent sweep, the caller's retry answered
    with a payment that was never sent."""
    real = methods.final_decline_in_force

    def broken(saved_method):
        raise OperationalError("canceling statement due to lock timeout")

    monkeypatch.setattr(methods, "final_decline_in_force", broken)
    key = uuid.uuid4().hex
    sent = ProviderCall.objects.filter(account=primary).count()

    with pytest.raises(OperationalError):
        charge(method, key=key)

    stopped = Payment.objects.get(order_id=f"order-{key}")
    assert (stopped.status, stopped.failure_code) == (PaymentStatus.FAILED, "not_sent")
    assert stopped.idempotency_key is None
    assert ProviderCall.objects.filter(account=primary).count() == sent
    monkeypatch.setattr(methods, "final_decline_in_force", real)
    assert charge(method, key=key).status == PaymentStatus.CAPTURED


@pytest.mark.django_db
def test_a_fault_as_the_refusal_is_stored_leaves_no_refusal_without_its_key(
    primary, method, monkeypatch
):
    """Stopped around the refusal's commit (a worker's timeout), the payment
    is either refused with its key kept or not sent with its key freed: never
    refused with its key freed (the caller's retry would make another)."""
    card(method, "tok_lost_card")
    charge(method)

    def stopped(*args, **kwargs):
        raise RuntimeError("worker timeout")

    monkeypatch.setattr(methods.logger, "warning", stopped)
    key = uuid.uuid4().hex

    with pytest.raises(RuntimeError):
        charge(method, key=key)

    payment = Payment.objects.get(order_id=f"order-{key}")
    assert (payment.failure_code, payment.idempotency_key) in [
        (REFUSED, key),
        ("not_sent", None),
    ]
