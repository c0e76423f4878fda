"""The fraud review queue, blocklists and thresholds in the admin, and the
read-only admins of refunds, saved methods and recurring charges."""

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from payments.models import (
    AmountThreshold,
    BlocklistEntry,
    Payment,
    PaymentStatus,
    RecurringCharge,
    ReviewState,
    SandboxCharge,
)
from payments.services import payment_method_save, payment_refund

pytestmark = pytest.mark.django_db

QUEUE = reverse("admin:payments_paymentreview_changelist")


@pytest.fixture(autouse=True)
def _fraud_settings(settings) -> None:
    settings.FRAUD_RULE_SCORES = {**settings.FRAUD_RULE_SCORES, "country_mismatch": 30}
    settings.FRAUD_LEVEL_MEDIUM = 30
    settings.FRAUD_LEVEL_HIGH = 70


@pytest.fixture
def held(make_payment):
    """A medium-risk payment: authorized only, waiting for review."""

    def make(*, capture: bool = True) -> Payment:
        payment = make_payment(billing_country="GB", ip_country="FR", capture=capture)
        assert (payment.status, payment.review_state) == ("authorized", "pending")
        return payment

    return make


def queued(response) -> set[str]:
    return set(re.findall(r"pay_[0-9a-z]{24}", response.content.decode()))


def review(client, name: str, *payments: Payment):
    return client.post(
        QUEUE,
        {"action": name, "_selected_action": [p.pk for p in payments]},
        follow=True,
    )


def test_the_queue_lists_only_payments_waiting_for_review(
    staff_client, make_payment, held
):
    waiting = held()
    make_payment()  # low risk, captured
    response = staff_client.get(QUEUE)
    assert response.status_code == 200
    assert queued(response) == {waiting.public_id}
    content = response.content.decode()
    assert "country_mismatch" in content
    assert 'id="review-help"' in content


def test_approve_captures_and_leaves_the_queue(staff_client, held):
    payment = held()
    response = review(staff_client, "approve", payment)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED
    assert payment.review_state == ReviewState.APPROVED
    assert f"{payment.public_id}: Approved in fraud review: now captured." in [
        str(m) for m in response.context["messages"]
    ]
    assert queued(staff_client.get(QUEUE)) == set()
    entry = LogEntry.objects.get(object_id=str(payment.pk))
    # Logged on the payment itself, so its History shows it.
    assert entry.content_type == ContentType.objects.get_for_model(Payment)
    assert entry.change_message == "Approved in fraud review: now captured."


def test_approving_an_authorize_only_hold_leaves_it_authorized(staff_client, held):
    # The storefront asked to authorize only: approving clears the hold and
    # leaves the capture to the storefront, without a gateway call.
    payment = held(capture=False)
    response = review(staff_client, "approve", payment)
    payment.refresh_from_db()
    assert (payment.status, payment.review_state) == ("authorized", "approved")
    assert not payment.attempts.filter(operation="capture").exists()
    assert f"{payment.public_id}: Approved in fraud review: now authorized." in [
        str(m) for m in response.context["messages"]
    ]
    assert queued(staff_client.get(QUEUE)) == set()


def test_reject_voids(staff_client, held):
    payment, other = held(), held()
    review(staff_client, "reject", payment)
    payment.refresh_from_db()
    other.refresh_from_db()
    assert (payment.status, payment.review_state) == ("voided", "rejected")
    assert (other.status, other.review_state) == ("authorized", "pending")


def test_a_gateway_refusal_is_an_error_message(staff_client, held):
    payment = held()
    # Voided at the gateway behind our back: it refuses the capture.
    SandboxCharge.objects.filter(reference=payment.provider_reference).update(
        status="voided"
    )
    response = review(staff_client, "approve", payment)
    assert response.status_code == 200
    [message] = response.context["messages"]
    assert message.level_tag == "error"
    assert str(message).startswith(f"{payment.public_id}: could not approve: ")
    payment.refresh_from_db()
    assert (payment.status, payment.review_state) == ("authorized", "pending")
    assert not LogEntry.objects.exists()


def test_an_approve_left_unknown_is_not_reported_as_approved(
    staff_client, held, monkeypatch
):
    from integrations.errors import Unknown
    from payments.providers.sandbox import SandboxPaymentsAdapter

    def lost(self, *args, **kwargs):
        raise Unknown("sandbox read timed out (test)", code="read_timeout")

    monkeypatch.setattr(SandboxPaymentsAdapter, "capture", lost)
    payment = held()
    response = review(staff_client, "approve", payment)
    payment.refresh_from_db()
    assert (payment.status, payment.review_state) == ("unknown", "pending")
    said = (
        "Not approved yet: the gateway's answer was lost; outcome unknown, "
        "being reconciled (still in review)."
    )
    assert [str(m) for m in response.context["messages"]] == [
        f"{payment.public_id}: {said}"
    ]
    assert list(LogEntry.objects.values_list("change_message", flat=True)) == [said]


def test_acknowledging_an_unresolved_unknown_payment_is_reported_as_done(
    staff_client, make_payment
):
    # Reconciliation could not settle it; staff checked it at the gateway and
    # acknowledge it (no gateway call). It leaves the queue: the admin must
    # not say "not approved yet ... (still in review)".
    payment = make_payment(capture=False)
    Payment.objects.filter(pk=payment.pk).update(
        status="unknown", review_state="pending", review_reason="unresolved"
    )
    response = review(staff_client, "approve", payment)
    payment.refresh_from_db()
    assert payment.review_state == ReviewState.APPROVED
    said = "Approved in review (unresolved): now unknown."
    assert [str(m) for m in response.context["messages"]] == [
        f"{payment.public_id}: {said}"
    ]
    assert list(LogEntry.objects.values_list("change_message", flat=True)) == [said]


@pytest.mark.parametrize(
    ("refunded", "decision"), [("all", "pending"), ("part", "approved")]
)
def test_a_fraud_hold_refunded_in_full_is_rejected_not_approved(
    staff_client, held, refunded, decision
):
    # docs/payments.md: a hold that holds no money any more is closed by
    # rejecting it; approving it is refused. One refunded in part still holds
    # money: approving it acknowledges the capture.
    from payments.services import payment_capture

    payment = held()
    payment_capture(payment=payment)
    payment.refresh_from_db()
    amount = payment.amount_captured if refunded == "all" else 100
    payment_refund(payment=payment, amount=amount)
    response = review(staff_client, "approve", payment)
    payment.refresh_from_db()
    assert payment.review_state == decision
    [message] = response.context["messages"]
    if refunded == "all":
        assert message.level_tag == "error"
        assert "nothing to capture; reject it" in str(message)
        review(staff_client, "reject", payment)
        payment.refresh_from_db()
        assert payment.review_state == ReviewState.REJECTED
    else:
        assert message.level_tag == "success"


def test_reviewing_needs_change_permission(viewer_client, held):
    payment = held()
    response = viewer_client.get(QUEUE)
    assert response.status_code == 200
    assert 'value="approve"' not in response.content.decode()
    review(viewer_client, "approve", payment)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.AUTHORIZED


def test_a_queue_row_opens_the_payment_page(staff_client, held):
    payment = held()
    url = reverse("admin:payments_paymentreview_change", args=[payment.pk])
    response = staff_client.get(url)
    assert response["Location"] == reverse(
        "admin:payments_payment_change", args=[payment.pk]
    )


# --- blocklists and thresholds ---------------------------------------------------


def test_blocklist_entry_is_normalised_and_attributed(staff_client):
    url = reverse("admin:payments_blocklistentry_add")
    response = staff_client.post(
        url, {"kind": "ip", "value": "198.51.100.77/24", "reason": "card testing"}
    )
    assert response.status_code == 302
    entry = BlocklistEntry.objects.get()
    assert (entry.value, entry.created_by) == ("198.51.100.0/24", "boss")


def test_invalid_and_duplicate_blocklist_entries_are_form_errors(staff_client):
    url = reverse("admin:payments_blocklistentry_add")
    response = staff_client.post(url, {"kind": "email", "value": "nope", "reason": ""})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["value"]
    staff_client.post(url, {"kind": "email", "value": "a@b.example", "reason": ""})
    response = staff_client.post(
        url, {"kind": "email", "value": " A@B.example ", "reason": ""}
    )
    assert response.status_code == 200
    assert BlocklistEntry.objects.count() == 1


def test_a_blocklisted_email_blocks_the_next_payment(staff_client, make_payment):
    staff_client.post(
        reverse("admin:payments_blocklistentry_add"),
        {"kind": "email", "value": "@evil.example", "reason": "fraud ring"},
    )
    payment = make_payment(customer_email="mallory@evil.example")
    assert payment.status == PaymentStatus.BLOCKED
    assert payment.risk_reasons == ["blocklisted_email"]
    assert not payment.attempts.exists()  # no gateway was called


def test_amount_threshold_admin(staff_client, make_payment):
    response = staff_client.post(
        reverse("admin:payments_amountthreshold_add"),
        {"currency": "eur", "amount": "5000"},
    )
    assert response.status_code == 302
    threshold = AmountThreshold.objects.get()
    assert (threshold.currency, threshold.updated_by) == ("EUR", "boss")
    listing = staff_client.get(reverse("admin:payments_amountthreshold_changelist"))
    assert "€50.00" in listing.content.decode()
    payment = make_payment(amount=5_001, capture=False)
    assert "amount_over_threshold" in payment.risk_reasons


# --- read-only admins -----------------------------------------------------------


def test_refund_saved_method_and_recurring_lists(staff_client, make_payment):
    payment = make_payment()
    refund = payment_refund(payment=payment, amount=1_234, reason="late")
    method = payment_method_save(
        customer_reference="cus_9", source_token="tok_mastercard", idempotency_key="k1"
    )
    recurring = RecurringCharge.objects.create(
        saved_method=method,
        amount=999,
        currency="USD",
        interval="month",
        next_run_at=timezone.now() + timedelta(days=3),
    )
    refunds = staff_client.get(reverse("admin:payments_refund_changelist"))
    assert refund.public_id in refunds.content.decode()
    assert "€12.34" in refunds.content.decode()
    methods = staff_client.get(reverse("admin:payments_savedpaymentmethod_changelist"))
    assert method.public_id in methods.content.decode()
    assert "4444" in methods.content.decode()
    charges = staff_client.get(reverse("admin:payments_recurringcharge_changelist"))
    assert recurring.public_id in charges.content.decode()
    assert "$9.99" in charges.content.decode()
    for name in ("refund", "savedpaymentmethod", "recurringcharge"):
        assert (
            staff_client.get(reverse(f"admin:payments_{name}_add")).status_code == 403
        )
