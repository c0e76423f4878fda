"""Settle by hand: staff's outcome for an ``unknown`` payment the gateway
cannot settle, through the payment's admin page."""

import logging

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse

from integrations.errors import Unknown
from integrations.models import Event
from payments import services
from payments.models import Payment, PaymentStatus, SandboxCharge
from payments.providers.sandbox import SandboxPaymentsAdapter
from tests.staff_clients import permitted_staff

pytestmark = pytest.mark.django_db


def settle_url(payment: Payment) -> str:
    return reverse("admin:payments_payment_settle", args=[payment.pk])


def change_url(payment: Payment) -> str:
    return reverse("admin:payments_payment_change", args=[payment.pk])


@pytest.fixture
def ambiguous(monkeypatch):
    """The gateway's search cannot tell which charge is the payment's."""

    def cannot_say(self, **kwargs):
        raise Unknown("several charges match (test)", code="lookup_ambiguous")

    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", cannot_say)


@pytest.fixture
def settler_client(db, django_user_model) -> Client:
    """May see payments and settle unknown ones; nothing else."""
    return permitted_staff(
        django_user_model, "settler", "payments", ["view_payment", "settle_payment"]
    )


def lost(make_payment, token: str = "tok_timeout") -> Payment:
    """An unknown payment: the gateway's answer to the create was lost."""
    payment = make_payment(token=token)
    assert payment.status == PaymentStatus.UNKNOWN
    return payment


def events(payment: Payment) -> list[str]:
    return list(
        Event.objects.filter(subject=f"payment:{payment.public_id}")
        .order_by("pk")
        .values_list("name", flat=True)
    )


def test_a_payment_the_gateway_cannot_settle_is_settled_failed_by_hand(
    settler_client, make_payment, ambiguous, caplog
):
    # A sale lost with no reference, the gateway's search ambiguous: the sweep
    # asks for ever, an ERROR each time. Staff settle it: nothing was charged.
    payment = lost(make_payment, token="tok_server_error")
    caplog.set_level(logging.ERROR, logger="payments.services")
    services.payments_reconcile_pending()
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("unknown", "reconcile_manually")
    assert caplog.records
    page = settler_client.get(change_url(payment)).content.decode()
    assert settle_url(payment) in page
    response = settler_client.post(
        settle_url(payment),
        {"outcome": "failed", "note": "Dashboard shows no charge for the order."},
    )
    assert response.status_code == 302, response.content.decode()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_code == "settled_by_staff"
    assert payment.review_state == "resolved"
    assert events(payment)[-1] == "payment.failed"
    note = payment.notes.get(kind="settled_by_hand")
    assert "settler" in note.title
    assert note.detail == "Dashboard shows no charge for the order."
    [entry] = LogEntry.objects.filter(object_id=str(payment.pk))
    assert "unknown → failed" in entry.change_message
    caplog.clear()
    services.payments_reconcile_pending()
    assert not caplog.records


def test_settled_captured_by_reference_clears_the_failure_and_tells_the_storefront(
    settler_client, make_payment, ambiguous
):
    payment = lost(make_payment)
    reference = SandboxCharge.objects.get(kind="payment").reference
    response = settler_client.post(
        settle_url(payment),
        {"outcome": "captured", "provider_reference": reference, "note": "Seen."},
    )
    assert response.status_code == 302
    payment.refresh_from_db()
    assert (payment.status, payment.amount_captured) == ("captured", payment.amount)
    assert payment.provider_reference == reference
    assert (payment.failure_code, payment.failure_message) == ("", "")
    assert payment.notes.filter(kind="failure_cleared").exists()
    assert events(payment)[-1] == "payment.captured"


def test_a_money_outcome_needs_the_gateway_reference(settler_client, make_payment):
    payment = lost(make_payment)
    response = settler_client.post(
        settle_url(payment), {"outcome": "captured", "note": "Seen."}
    )
    assert response.status_code == 200
    assert "provider_reference" in response.context["form"].errors
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.UNKNOWN


def test_a_note_is_required(settler_client, make_payment):
    payment = lost(make_payment)
    response = settler_client.post(settle_url(payment), {"outcome": "failed"})
    assert response.status_code == 200
    assert "note" in response.context["form"].errors


def test_a_charge_another_payment_owns_is_a_form_error(
    settler_client, make_payment, ambiguous
):
    owner = make_payment()
    payment = lost(make_payment)
    response = settler_client.post(
        settle_url(payment),
        {
            "outcome": "captured",
            "provider_reference": owner.provider_reference,
            "note": "Wrong one.",
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors["provider_reference"]
    assert owner.public_id in errors[0]
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.UNKNOWN


def test_an_owner_that_appears_meanwhile_is_a_form_error_not_a_500(
    settler_client, make_payment, ambiguous, monkeypatch
):
    # The database's one-owner rule, when the check before it saw none.
    owner = make_payment()
    payment = lost(make_payment)
    monkeypatch.setattr("payments.services.settle._refuse_if_owned", lambda *args: None)
    response = settler_client.post(
        settle_url(payment),
        {
            "outcome": "captured",
            "provider_reference": owner.provider_reference,
            "note": "Race.",
        },
    )
    assert response.status_code == 200
    assert "provider_reference" in response.context["form"].errors
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.UNKNOWN
    assert not payment.notes.filter(kind="settled_by_hand").exists()


@pytest.mark.parametrize(
    ("outcome", "charge_status", "said"),
    [("failed", "captured", "captured"), ("captured", "authorized", "authorized")],
)
def test_an_outcome_the_gateway_contradicts_is_refused_with_what_it_said(
    settler_client, make_payment, outcome, charge_status, said
):
    payment = lost(make_payment)
    charge = SandboxCharge.objects.get(kind="payment")
    SandboxCharge.objects.filter(pk=charge.pk).update(status=charge_status)
    response = settler_client.post(
        settle_url(payment),
        {
            "outcome": outcome,
            "provider_reference": charge.reference if outcome != "failed" else "",
            "note": "I think so.",
        },
    )
    assert response.status_code == 200
    [error] = response.context["form"].non_field_errors()
    assert "contradicts" in error
    assert f"The gateway said: {said}" in error
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.UNKNOWN
    assert not payment.notes.filter(kind="settled_by_hand").exists()


def test_what_the_gateway_said_is_masked(settler_client, make_payment, monkeypatch):
    payment = lost(make_payment)
    secret = "sk_test_planted_secret_value"
    monkeypatch.setattr(
        "payments.services.settle.known_secrets", lambda fresh=False: {secret}
    )

    def refused(self, *args, **kwargs):
        from integrations.errors import NotProcessed

        raise NotProcessed(f"bad key {secret}", code="connection_refused")

    # The create's key is asked as well as staff's reference: both fail.
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_reference", refused)
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", refused)
    response = settler_client.post(
        settle_url(payment),
        {"outcome": "captured", "provider_reference": "ch_x", "note": "n"},
    )
    body = response.content.decode()
    assert "could not be asked" in body
    assert secret not in body
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.UNKNOWN


def test_settling_needs_its_own_permission(clerk_client, staff_client, make_payment):
    payment = lost(make_payment)
    assert clerk_client.get(settle_url(payment)).status_code == 403
    post = clerk_client.post(settle_url(payment), {"outcome": "failed", "note": "n"})
    assert post.status_code == 403
    assert (
        settle_url(payment)
        not in clerk_client.get(change_url(payment)).content.decode()
    )
    assert settle_url(payment) in staff_client.get(change_url(payment)).content.decode()


def test_settling_needs_to_see_the_payment_too(django_user_model, make_payment):
    # settle_payment alone (no view_payment) neither shows nor settles it.
    client = permitted_staff(
        django_user_model, "settle-only", "payments", ["settle_payment"]
    )
    payment = lost(make_payment)
    assert client.get(settle_url(payment)).status_code == 403
    post = client.post(settle_url(payment), {"outcome": "failed", "note": "n"})
    assert post.status_code == 403
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.UNKNOWN


def test_only_an_unknown_payment_offers_it(settler_client, make_payment):
    payment = make_payment()
    assert settle_url(payment) not in (
        settler_client.get(change_url(payment)).content.decode()
    )
    response = settler_client.post(
        settle_url(payment), {"outcome": "failed", "note": "n"}
    )
    assert response.status_code == 302
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CAPTURED


def test_failed_on_a_charge_the_gateway_voided_is_booked_voided(
    settler_client, make_payment
):
    # A void whose answer was lost: nothing was taken, and the gateway says
    # how (its authorization released); the storefront is told "voided".
    payment = make_payment(capture=False)
    SandboxCharge.objects.filter(reference=payment.provider_reference).update(
        status="voided"
    )
    Payment.objects.filter(pk=payment.pk).update(
        status="unknown", failure_code="outcome_unknown"
    )
    response = settler_client.post(
        settle_url(payment),
        {
            "outcome": "failed",
            "provider_reference": payment.provider_reference,
            "note": "Voided in the dashboard.",
        },
    )
    assert response.status_code == 302
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("voided", "")
    assert events(payment)[-1] == "payment.voided"


def test_a_capture_under_way_refuses_it(settler_client, make_payment):
    from integrations.models.attempts import AttemptOutcome
    from payments.models import PaymentAttempt

    payment = make_payment(capture=False)
    PaymentAttempt.objects.create(
        payment=payment,
        account=payment.account,
        operation="capture",
        idempotency_key="k-under-way",
        outcome=AttemptOutcome.IN_PROGRESS,
    )
    Payment.objects.filter(pk=payment.pk).update(status="unknown")
    response = settler_client.post(
        settle_url(payment),
        {
            "outcome": "authorized",
            "provider_reference": payment.provider_reference,
            "note": "n",
        },
    )
    assert response.status_code == 200
    [error] = response.context["form"].non_field_errors()
    assert "capture" in error and "under way" in error
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.UNKNOWN


def breaker_reset() -> None:
    from django.core.cache import cache

    from integrations.breaker.store import forget_recent

    forget_recent()
    cache.clear()


def test_failed_with_a_mistyped_reference_is_still_checked_against_the_creates_key(
    settler_client, make_payment
):
    # The create's answer was lost; the gateway captured it under the create's
    # key. Staff say "failed" and paste a wrong reference: the gateway is asked
    # only by that reference, answers "no such charge", and the payment is
    # booked failed while the customer's money is taken.
    payment = lost(make_payment)
    charge = SandboxCharge.objects.get(kind="payment")
    assert charge.status == "captured"
    response = settler_client.post(
        settle_url(payment),
        {"outcome": "failed", "provider_reference": "ch_typo", "note": "none seen"},
    )
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.UNKNOWN, (
        f"booked {payment.status} though the gateway captured "
        f"{charge.amount_captured} under the create's key"
    )
    assert response.status_code == 200


def test_a_money_outcome_on_another_orders_charge_is_refused(
    settler_client, make_payment, ambiguous
):
    # Two lost sales; staff paste B's charge on A (not owned yet: B is
    # unknown too). The gateway's record is another order and another amount,
    # but only its status and currency are compared.
    a = lost(make_payment, token="tok_timeout")
    a_amount = a.amount
    b = make_payment(token="tok_timeout", amount=a_amount * 50)
    assert b.status == PaymentStatus.UNKNOWN
    breaker_reset()  # two timeouts in a row opened it; a later settle
    b_charge = SandboxCharge.objects.get(kind="payment", amount=b.amount)
    response = settler_client.post(
        settle_url(a),
        {
            "outcome": b_charge.status,  # what the gateway shows for it
            "provider_reference": b_charge.reference,
            "note": "n",
        },
    )
    a.refresh_from_db()
    assert (a.status, a.amount_authorized) == (PaymentStatus.UNKNOWN, 0), (
        f"A ({a_amount}) booked {a.status} with {a.amount_authorized} authorized "
        "from another order's charge"
    )
    assert response.status_code == 200


def test_another_orders_charge_is_left_to_that_orders_reconciliation(
    settler_client, make_payment, monkeypatch
):
    from payments import services

    a = lost(make_payment, token="tok_timeout")
    b = make_payment(token="tok_timeout", amount=a.amount * 50)
    assert b.status == PaymentStatus.UNKNOWN
    breaker_reset()
    b_charge = SandboxCharge.objects.get(kind="payment", amount=b.amount)
    response = settler_client.post(
        settle_url(a),
        {
            "outcome": b_charge.status,
            "provider_reference": b_charge.reference,
            "note": "n",
        },
    )
    assert response.status_code == 200  # refused: another order's charge
    Payment.objects.filter(pk=b.pk).update(
        updated_at=b.updated_at.replace(year=2000),
        created_at=b.created_at.replace(year=2000),
    )
    services.payments_reconcile_pending()
    b.refresh_from_db()
    a.refresh_from_db()
    assert b.status == PaymentStatus.AUTHORIZED


def test_an_owed_capture_settled_authorized_by_hand_is_still_sent(
    settler_client, make_payment, monkeypatch
):
    # A Square-like gateway (capture in a second call). The storefront asked
    # for a capture; the create's authorization answer was lost and the
    # gateway could not say which charge was its own (reconcile_manually:
    # review pending, unresolved). Staff settle it "authorized" with the
    # charge's reference. The capture the storefront asked for is still owed:
    # the sweep must send it (owes_capture), or the authorization just expires.
    from datetime import timedelta

    from django.utils import timezone

    from payments import services

    monkeypatch.setattr(SandboxPaymentsAdapter, "capture_after_authorize", True)
    payment = make_payment(capture=False)
    reference = payment.provider_reference
    Payment.objects.filter(pk=payment.pk).update(
        status="unknown",
        capture_requested=True,
        provider_reference="",
        amount_authorized=0,
        failure_code="reconcile_manually",
        review_state="pending",
        review_reason="unresolved",
    )
    response = settler_client.post(
        settle_url(payment),
        {"outcome": "authorized", "provider_reference": reference, "note": "n"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    Payment.objects.filter(pk=payment.pk).update(
        updated_at=timezone.now() - timedelta(hours=3)
    )
    services.payments_reconcile_pending()
    payment.refresh_from_db()
    assert (payment.status, payment.amount_captured) == ("captured", payment.amount), (
        payment.status,
        payment.review_state,
        SandboxCharge.objects.get(reference=reference).amount_captured,
    )


def test_failed_with_a_wrong_reference_is_checked_against_the_payments_own_charge(
    settler_client, make_payment
):
    # Unknown after a lost capture: the payment has its own reference, the
    # gateway captured it. Staff's "failed" with any other reference is
    # checked against that other reference only, and books failed.
    payment = make_payment(capture=False)
    own = payment.provider_reference
    SandboxCharge.objects.filter(reference=own).update(
        status="captured", amount_captured=payment.amount
    )
    Payment.objects.filter(pk=payment.pk).update(
        status="unknown", failure_code="outcome_unknown"
    )
    settler_client.post(
        settle_url(payment),
        {"outcome": "failed", "provider_reference": "ch_other", "note": "n"},
    )
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.UNKNOWN, (
        f"booked {payment.status}; its own charge {own} is captured"
    )


def test_a_payment_whose_account_cannot_be_called_is_refused_not_a_500(
    settler_client, make_payment
):
    # The account's provider was dropped from this deploy's adapters: the
    # gateway cannot be asked, so staff's outcome is refused on the form.
    payment = lost(make_payment)
    type(payment.account).objects.filter(pk=payment.account_id).update(
        provider="dropped_in_this_deploy"
    )
    response = settler_client.post(
        settle_url(payment),
        {"outcome": "failed", "note": "Dashboard shows no charge."},
    )
    assert response.status_code == 200
    assert "could not be asked" in response.content.decode()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.UNKNOWN
