"""Square's owed capture (the create's capture sent as a second call): never
sent once a void was asked for, sent once only when the gateway refuses it,
and the reconciliation sweep reaches every open payment."""

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.errors import NotProcessed, Rejected, Unknown
from payments import services, tasks
from payments.models import Payment, PaymentStatus, ReviewState, SandboxCharge
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.create import capture_owed, owes_capture

pytestmark = pytest.mark.django_db


def _owing_capture(monkeypatch) -> Payment:
    """A Square-like authorization that still owes the capture the storefront
    asked for (the create's capture was deferred)."""
    payment = services.payment_create(
        order_id="o-1",
        amount=1000,
        currency="EUR",
        source_token="tok_success",
        capture=False,
        idempotency_key=uuid.uuid4().hex,
    )
    Payment.objects.filter(pk=payment.pk).update(capture_requested=True)
    monkeypatch.setattr(SandboxPaymentsAdapter, "capture_after_authorize", True)
    payment.refresh_from_db()
    assert owes_capture(payment)
    return payment


def _void_answer_lost(monkeypatch) -> None:
    def lost(self, *args, **kwargs):
        raise Unknown("sandbox read timed out (test)", code="read_timeout")

    monkeypatch.setattr(SandboxPaymentsAdapter, "void", lost)


def _void_not_processed(monkeypatch) -> None:
    def refused(self, *args, **kwargs):
        raise NotProcessed("connection refused (test)", code="connect_error")

    monkeypatch.setattr(SandboxPaymentsAdapter, "void", refused)


def _capture_refused(monkeypatch, calls: list[str] | None = None) -> None:
    def refused(self, request):
        if calls is not None:
            calls.append(request.provider_reference)
        raise Rejected("authorization expired", code="authorization_expired")

    monkeypatch.setattr(SandboxPaymentsAdapter, "capture", refused)


# --- a void asked for: the owed capture is never sent ----------------------------


def test_storefront_void_left_unknown_is_not_turned_into_a_capture(
    primary, api, monkeypatch
):
    # The storefront cancels the order (void, 202 unknown); reconciliation
    # finds the authorization intact: it must not send the owed capture.
    payment = _owing_capture(monkeypatch)
    with monkeypatch.context() as m:
        _void_answer_lost(m)
        lost = api.post(
            f"/api/v1/payments/{payment.public_id}/void/",
            {},
            format="json",
            HTTP_IDEMPOTENCY_KEY="cancel-1",
        )
    assert (lost.status_code, lost.json()["status"]) == (202, "unknown")
    tasks.reconcile_payment(payment.pk)
    payment.refresh_from_db()
    assert payment.status != PaymentStatus.CAPTURED
    assert SandboxCharge.objects.get(kind="payment").status != "captured"


def test_staff_void_left_unknown_is_not_turned_into_a_capture_by_reconciliation(
    primary, admin_client, monkeypatch
):
    # Staff void an authorization that still owes its capture (the order was
    # cancelled); the void's answer is lost before the gateway acted.
    payment = _owing_capture(monkeypatch)
    with monkeypatch.context() as m:
        _void_answer_lost(m)
        url = reverse("admin:payments_payment_void", args=[payment.pk])
        admin_client.post(url)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.UNKNOWN
    tasks.reconcile_payment(payment.pk)
    payment.refresh_from_db()
    charge = SandboxCharge.objects.get(kind="payment")
    assert (payment.status, charge.status) != ("captured", "captured")


def test_a_void_that_never_reached_the_gateway_leaves_the_capture_owed(
    primary, api, monkeypatch
):
    # The storefront's void cannot reach Square (connection refused): 503
    # "nothing was done". The capture the create still owes must still be
    # sent by reconciliation, or the order is never charged.
    payment = _owing_capture(monkeypatch)
    with monkeypatch.context() as m:
        _void_not_processed(m)
        response = api.post(
            f"/api/v1/payments/{payment.public_id}/void/",
            {},
            format="json",
            HTTP_IDEMPOTENCY_KEY="cancel-1",
        )
    assert response.status_code == 503
    assert "nothing was done" in response.json()["error"]["message"]
    payment.refresh_from_db()
    assert (payment.status, payment.capture_requested) == ("authorized", True)
    assert owes_capture(payment)
    tasks.reconcile_payment(payment.pk)
    payment.refresh_from_db()
    charge = SandboxCharge.objects.get(kind="payment")
    assert (payment.status, charge.status) == ("captured", "captured")


def test_a_void_the_gateway_refused_still_cancels_the_owed_capture(
    primary, monkeypatch
):
    # The gateway answered (it refused the void): it saw the order's
    # cancellation; the owed capture is not sent behind the storefront's back.
    payment = _owing_capture(monkeypatch)

    def refused(self, *args, **kwargs):
        raise Rejected("void refused (test)", code="void_refused")

    with monkeypatch.context() as m:
        m.setattr(SandboxPaymentsAdapter, "void", refused)
        with pytest.raises(services.GatewayRejected):
            services.payment_void(payment=payment)
    payment.refresh_from_db()
    assert (payment.status, payment.capture_requested) == ("authorized", False)
    assert not owes_capture(payment)


def test_no_owed_capture_is_sent_while_a_void_is_at_the_gateway(primary, monkeypatch):
    # Reconciliation runs while the storefront's void is at the gateway: the
    # capture is not sent (the void's attempt is under way); the void that
    # then fails to reach the gateway leaves the capture owed for later.
    payment = _owing_capture(monkeypatch)
    during: list[tuple[str, str]] = []

    def void_meanwhile(self, *args, **kwargs):
        row = Payment.objects.get(pk=payment.pk)
        assert not owes_capture(row)
        capture_owed(row)
        charge = SandboxCharge.objects.get(kind="payment")
        during.append((Payment.objects.get(pk=payment.pk).status, charge.status))
        raise NotProcessed("connection refused (test)", code="connect_error")

    with monkeypatch.context() as m:
        m.setattr(SandboxPaymentsAdapter, "void", void_meanwhile)
        with pytest.raises(services.GatewayUnavailable):
            services.payment_void(payment=payment)
    assert during == [("authorized", "authorized")]
    payment.refresh_from_db()
    assert owes_capture(payment)


def test_a_void_clears_the_capture_asked_for_with_its_attempt(primary, monkeypatch):
    payment = _owing_capture(monkeypatch)
    with monkeypatch.context() as m:
        _void_answer_lost(m)
        services.payment_void(payment=payment)
    payment.refresh_from_db()
    assert (payment.status, payment.capture_requested) == ("unknown", False)
    assert payment.attempts.filter(operation="void").exists()


def test_no_owed_capture_once_a_void_attempt_exists(primary, monkeypatch):
    # A void asked for before the flag was cleared (a previous release).
    payment = _owing_capture(monkeypatch)
    payment.attempts.create(
        account=primary,
        operation="void",
        idempotency_key=f"{payment.public_id}-a{primary.pk}-voi",
        outcome="failed",
    )
    assert not owes_capture(payment)


def test_a_payment_with_an_old_void_attempt_is_not_a_sweep_candidate(
    primary, monkeypatch, settings
):
    # Voided by the previous release (capture_requested left set): the owed
    # capture is never sent, so the sweep must not pick it every time and
    # crowd out the payments behind it.
    settings.PAYMENTS_RECONCILE_BATCH = 1
    old = _owing_capture(monkeypatch)
    old.attempts.create(
        account=primary,
        operation="void",
        idempotency_key=f"{old.public_id}-a{primary.pk}-voi",
        outcome="unknown",
    )
    Payment.objects.filter(pk=old.pk).update(
        updated_at=timezone.now() - timedelta(days=1)
    )
    checked: list[int] = []
    real = services.payment_reconcile

    def spy(*, payment):
        checked.append(payment.pk)
        return real(payment=payment)

    monkeypatch.setattr("payments.services.reconcile.payment_reconcile", spy)
    services.payments_reconcile_pending()
    assert checked == []
    old.refresh_from_db()
    assert old.status == PaymentStatus.AUTHORIZED


def test_an_owing_payment_whose_void_never_reached_the_gateway_is_swept(
    primary, monkeypatch
):
    stuck = _owing_capture(monkeypatch)
    with monkeypatch.context() as m:
        _void_not_processed(m)
        with pytest.raises(services.GatewayUnavailable):
            services.payment_void(payment=stuck)
    Payment.objects.filter(pk=stuck.pk).update(
        updated_at=timezone.now() - timedelta(days=1)
    )
    services.payments_reconcile_pending()
    stuck.refresh_from_db()
    assert stuck.status == PaymentStatus.CAPTURED


# --- a refused owed capture is sent once -------------------------------------


def test_an_owed_capture_the_gateway_refuses_is_not_resent_by_every_sweep(
    primary, monkeypatch, settings
):
    # Square refuses the owed capture (the authorization expired): it is no
    # longer a sweep candidate, and staff find it in the review queue.
    settings.PAYMENTS_RECONCILE_BATCH = 1
    stuck = _owing_capture(monkeypatch)
    calls: list[str] = []
    _capture_refused(monkeypatch, calls)
    old = timezone.now() - timedelta(days=1)
    Payment.objects.filter(pk=stuck.pk).update(updated_at=old)
    services.payments_reconcile_pending()
    services.payments_reconcile_pending()
    assert len(calls) == 1, calls
    stuck.refresh_from_db()
    assert (stuck.status, stuck.capture_requested) == ("authorized", False)
    assert (stuck.review_state, stuck.review_reason) == (
        ReviewState.PENDING,
        "capture_refused",
    )
    assert stuck.notes.filter(kind="capture_refused").exists()


def test_refused_owed_captures_do_not_starve_unknown_payments(
    primary, monkeypatch, settings
):
    settings.PAYMENTS_RECONCILE_BATCH = 1
    stuck = _owing_capture(monkeypatch)
    Payment.objects.filter(pk=stuck.pk).update(
        updated_at=timezone.now() - timedelta(days=1)
    )
    unknown = services.payment_create(
        order_id="o-2",
        amount=500,
        currency="EUR",
        source_token="tok_success",
        capture=False,
        idempotency_key=uuid.uuid4().hex,
    )
    with monkeypatch.context() as m:
        _void_answer_lost(m)
        services.payment_void(payment=unknown)
    assert Payment.objects.get(pk=unknown.pk).status == PaymentStatus.UNKNOWN
    _capture_refused(monkeypatch)
    for _sweep in range(5):
        services.payments_reconcile_pending()
    assert Payment.objects.get(pk=unknown.pk).status != PaymentStatus.UNKNOWN


def test_the_sweep_takes_the_least_recently_checked_first(
    primary, monkeypatch, settings
):
    # Unknown payments the gateway cannot settle yet stay candidates; a batch
    # of them must not keep the ones behind them from ever being asked.
    settings.PAYMENTS_RECONCILE_BATCH = 2
    payments = []
    for n in range(3):
        payment = services.payment_create(
            order_id=f"o-{n}",
            amount=500,
            currency="EUR",
            source_token="tok_success",
            capture=False,
            idempotency_key=uuid.uuid4().hex,
        )
        with monkeypatch.context() as m:
            _void_answer_lost(m)
            services.payment_void(payment=payment)
        payments.append(payment)
    asked: list[int] = []

    def unreachable(self, **kwargs):
        asked.append(kwargs["provider_reference"])
        raise Unknown("sandbox down (test)", code="connect_timeout")

    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve", unreachable)
    services.payments_reconcile_pending()
    services.payments_reconcile_pending()
    references = {p.provider_reference for p in payments}
    assert set(asked) == references and len(asked) == 4
