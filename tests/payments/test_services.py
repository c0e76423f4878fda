"""payments.services over real sandbox accounts: failover, unknown outcomes,
reconciliation, idempotency, fraud levels, refunds, saved methods."""

import logging
import uuid

import pytest
from django_q.models import Schedule

from integrations.errors import Unknown
from integrations.models import Event, ProviderAccount
from payments import services, tasks
from payments.models import (
    BlocklistEntry,
    BlocklistKind,
    Payment,
    PaymentAttempt,
    PaymentReview,
    PaymentStatus,
    RecurringCharge,
    RecurringStatus,
    Refund,
    RefundStatus,
    ReviewState,
    SandboxCharge,
)
from payments.providers.sandbox import SandboxPaymentsAdapter

pytestmark = pytest.mark.django_db


def create(**overrides: object) -> Payment:
    values: dict = {
        "order_id": "order-1",
        "amount": 1050,
        "currency": "EUR",
        "source_token": "tok_success",
        "capture": True,
        "idempotency_key": uuid.uuid4().hex,
    }
    values.update(overrides)
    return services.payment_create(**values)


def charges(account: ProviderAccount) -> int:
    return SandboxCharge.objects.filter(account=account, kind="payment").count()


def event_names() -> list[str]:
    return list(Event.objects.order_by("pk").values_list("name", flat=True))


def test_capture_now(primary, secondary):
    payment = create()
    assert payment.status == PaymentStatus.CAPTURED
    assert (payment.amount_authorized, payment.amount_captured) == (1050, 1050)
    assert payment.account == primary
    assert payment.provider_reference.startswith("ch_sbx_")
    assert (payment.card_brand, payment.card_last4) == ("visa", "4242")
    assert charges(primary) == 1 and charges(secondary) == 0
    assert event_names() == ["payment.captured"]


def test_primary_refuses_connections_secondary_charges_once(primary, secondary):
    primary.settings = {"outage": True}
    primary.save()
    payment = create()
    assert payment.status == PaymentStatus.CAPTURED
    assert payment.account == secondary
    assert charges(primary) == 0 and charges(secondary) == 1
    attempts = list(payment.attempts.values_list("account__slug", "outcome"))
    assert attempts == [
        ("sbx-primary", "not_processed"),
        ("sbx-secondary", "succeeded"),
    ]


def test_timeout_after_charge_is_unknown_then_reconciled(
    primary, secondary, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        payment = create(source_token="tok_timeout", capture=False)
    assert payment.status == PaymentStatus.UNKNOWN
    assert payment.account == primary
    # No second gateway was tried: the first may have charged.
    assert not PaymentAttempt.objects.filter(account=secondary).exists()
    assert charges(secondary) == 0
    scheduled = Schedule.objects.get(func=services.RECONCILE_TASK)
    assert scheduled.name.startswith(f"reconcile-{payment.public_id}")
    assert scheduled.schedule_type == Schedule.ONCE
    # What the scheduled task runs, in whichever worker picks it up.
    assert tasks.reconcile_payment(payment.pk) == PaymentStatus.AUTHORIZED
    reconciled = Payment.objects.get(pk=payment.pk)
    assert reconciled.status == PaymentStatus.AUTHORIZED
    assert reconciled.amount_authorized == 1050
    charge = SandboxCharge.objects.get(account=primary, kind="payment")
    assert reconciled.provider_reference == charge.reference
    assert charges(primary) == 1
    assert "payment.authorized" in event_names()


def test_reconcile_settles_as_failed_when_the_gateway_has_nothing(primary):
    primary.settings = {"error_rate": 1.0}  # every call: 500, outcome unknown
    primary.save()
    payment = create()
    assert payment.status == PaymentStatus.UNKNOWN
    primary.settings = {}
    primary.save()
    assert services.payments_reconcile_pending() == [payment]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_code == "not_found_at_provider"


def test_decline_is_final_and_never_fails_over(primary, secondary):
    payment = create(source_token="tok_insufficient_funds")
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_code == "insufficient_funds"
    assert not PaymentAttempt.objects.filter(account=secondary).exists()
    assert event_names() == ["payment.failed"]


def test_no_gateway_reachable_frees_the_key(primary):
    primary.settings = {"outage": True}
    primary.save()
    with pytest.raises(services.GatewayUnavailable):
        create(idempotency_key="k-1")
    primary.settings = {}
    primary.save()
    payment = create(idempotency_key="k-1")
    assert payment.status == PaymentStatus.CAPTURED


def test_same_idempotency_key_same_payment(primary):
    first = create(idempotency_key="same")
    second = create(idempotency_key="same")
    assert first.pk == second.pk
    assert charges(primary) == 1


@pytest.mark.parametrize(
    ("currency", "amount", "refund"), [("JPY", 1050, 50), ("KWD", 1005, 5)]
)
def test_zero_and_three_decimal_currencies(primary, currency, amount, refund):
    payment = create(currency=currency.lower(), amount=amount, capture=False)
    assert payment.currency == currency
    payment = services.payment_capture(payment=payment, amount=amount - 1)
    assert payment.amount_captured == amount - 1
    result = services.payment_refund(payment=payment, amount=refund)
    assert result.status == RefundStatus.SUCCEEDED
    payment.refresh_from_db()
    assert payment.amount_refunded == refund
    charge = SandboxCharge.objects.get(account=primary, kind="payment")
    assert (charge.currency, charge.amount_refunded) == (currency, refund)


def test_authorize_then_partial_capture_then_refunds(primary):
    payment = create(capture=False, amount=1000)
    assert payment.status == PaymentStatus.AUTHORIZED
    payment = services.payment_capture(payment=payment, amount=800)
    assert payment.status == PaymentStatus.CAPTURED
    services.payment_refund(payment=payment, amount=300)
    with pytest.raises(services.AmountExceedsRefundable):
        services.payment_refund(payment=payment, amount=501)
    services.payment_refund(payment=payment, amount=500)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.amount_refunded == 800
    with pytest.raises(services.InvalidState):
        services.payment_refund(payment=payment, amount=1)
    assert event_names().count("payment.refunded") == 2


def test_refund_with_same_key_is_made_once(primary):
    payment = create()
    a = services.payment_refund(payment=payment, amount=100, idempotency_key="r1")
    b = services.payment_refund(payment=payment, amount=100, idempotency_key="r1")
    assert a.pk == b.pk
    payment.refresh_from_db()
    assert payment.amount_refunded == 100


def test_void(primary):
    payment = create(capture=False)
    payment = services.payment_void(payment=payment)
    assert payment.status == PaymentStatus.VOIDED
    with pytest.raises(services.InvalidState):
        services.payment_capture(payment=payment)


def test_capture_more_than_authorized_is_refused(primary):
    payment = create(capture=False, amount=500)
    with pytest.raises(services.AmountExceedsCapturable):
        services.payment_capture(payment=payment, amount=501)


def test_3ds_requires_action_with_client_secret(primary):
    payment = create(source_token="tok_3ds_required")
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert payment.client_secret.startswith(payment.provider_reference)


def test_high_risk_is_blocked_without_a_gateway_call(primary):
    BlocklistEntry.objects.create(kind=BlocklistKind.EMAIL, value="bad@example.com")
    payment = create(customer_email="bad@example.com")
    assert payment.status == PaymentStatus.BLOCKED
    assert payment.risk_level == "high"
    assert "blocklisted_email" in payment.risk_reasons
    assert not PaymentAttempt.objects.exists()
    assert charges(primary) == 0


def test_medium_risk_authorizes_only_and_waits_for_review(primary, settings):
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}
    payment = create(amount=2000, capture=True)
    assert payment.risk_level == "medium"
    assert payment.status == PaymentStatus.AUTHORIZED
    assert payment.review_state == ReviewState.PENDING
    approved = services.payment_review_approve(payment=payment, actor="staff")
    assert approved.status == PaymentStatus.CAPTURED
    assert approved.review_state == ReviewState.APPROVED
    other = create(amount=2000)
    rejected = services.payment_review_reject(payment=other, actor="staff")
    assert rejected.status == PaymentStatus.VOIDED
    assert rejected.review_state == ReviewState.REJECTED


def _held(api, key: str, *, capture: bool = True) -> str:
    created = api.post(
        "/api/v1/payments/",
        {
            "order_id": "o-h",
            "amount": 2000,
            "currency": "EUR",
            "source_token": "tok_success",
            "capture": capture,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    ).json()
    assert created["status"] == "authorized"
    held = Payment.objects.get(public_id=created["id"])
    assert (held.risk_level, held.review_state) == ("medium", "pending")
    return created["id"]


def _storefront(api, pid: str, operation: str, key: str):
    return api.post(
        f"/api/v1/payments/{pid}/{operation}/",
        {},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_the_storefront_cannot_capture_a_fraud_hold_until_staff_approve(
    primary, api, settings
):
    # Medium risk: authorized and held for review. The storefront's capture
    # is refused (409, our words) without a gateway call, and the refusal is
    # not the key's answer: staff's approve captures, and the same key then
    # gets the payment's answer as it now stands, not a replay.
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}
    pid = _held(api, "create-h")
    refused = _storefront(api, pid, "capture", "cap-h")
    assert refused.status_code == 409, refused.json()
    error = refused.json()["error"]
    assert error["code"] == "fraud_review_in_progress"
    assert "review" in error["message"]
    payment = Payment.objects.get(public_id=pid)
    assert (payment.status, payment.review_state) == ("authorized", "pending")
    assert not payment.attempts.filter(operation="capture").exists()
    assert SandboxCharge.objects.get(kind="payment").amount_captured == 0
    approved = services.payment_review_approve(payment=payment, actor="staff")
    assert (approved.status, approved.review_state) == ("captured", "approved")
    retry = _storefront(api, pid, "capture", "cap-h")
    assert not retry.has_header("Idempotent-Replayed")
    assert retry.status_code == 200, retry.json()
    assert approved.attempts.filter(operation="capture").count() == 1


def test_approving_an_authorize_only_hold_leaves_the_capture_to_the_storefront(
    primary, api, settings
):
    # The storefront authorizes at checkout (capture=false) and captures at
    # shipment: staff's approval clears the hold without a gateway call, the
    # money stays authorized, and the storefront's capture then goes through.
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}
    pid = _held(api, "create-a", capture=False)
    refused = _storefront(api, pid, "capture", "cap-a")
    assert refused.json()["error"]["code"] == "fraud_review_in_progress"
    approved = services.payment_review_approve(
        payment=Payment.objects.get(public_id=pid), actor="staff"
    )
    assert (approved.status, approved.review_state) == ("authorized", "approved")
    assert not approved.attempts.filter(operation="capture").exists()
    assert SandboxCharge.objects.get(kind="payment").amount_captured == 0
    assert not PaymentReview.objects.filter(pk=approved.pk).exists()
    captured = _storefront(api, pid, "capture", "cap-a")
    assert captured.status_code == 200, captured.json()
    assert captured.json()["status"] == "captured"
    assert SandboxCharge.objects.get(kind="payment").amount_captured == 2000


def test_a_capture_of_a_hold_staff_approved_is_answered_with_the_payment(
    primary, api, settings
):
    # The create asked for a capture; staff's approval made it. The
    # storefront's capture (a retry of the refused key, or a new key) is
    # answered 200 with the captured payment, never a second gateway call;
    # a capture of another amount is not the one made: still a 409.
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}
    pid = _held(api, "create-c")
    assert _storefront(api, pid, "capture", "cap-c").status_code == 409
    services.payment_review_approve(
        payment=Payment.objects.get(public_id=pid), actor="staff"
    )
    for key in ("cap-c", "cap-new"):
        answer = _storefront(api, pid, "capture", key)
        assert answer.status_code == 200, answer.json()
        assert (answer.json()["status"], answer.json()["amount_captured"]) == (
            "captured",
            2000,
        )
    partial = api.post(
        f"/api/v1/payments/{pid}/capture/",
        {"amount": 500},
        format="json",
        HTTP_IDEMPOTENCY_KEY="cap-part",
    )
    assert (partial.status_code, partial.json()["error"]["code"]) == (
        409,
        "invalid_state",
    )
    payment = Payment.objects.get(public_id=pid)
    assert payment.attempts.filter(operation="capture").count() == 1
    assert SandboxCharge.objects.get(kind="payment").amount_captured == 2000


def test_a_second_capture_of_a_payment_the_storefront_captured_is_still_a_409(
    primary, api, settings
):
    # Only staff's approval of a hold answers for the storefront's capture:
    # one the storefront made itself after an authorize-only approval is
    # answered as every other capture of a captured payment (409).
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}
    pid = _held(api, "create-d", capture=False)
    services.payment_review_approve(
        payment=Payment.objects.get(public_id=pid), actor="staff"
    )
    assert _storefront(api, pid, "capture", "cap-d").status_code == 200
    again = _storefront(api, pid, "capture", "cap-d2")
    assert (again.status_code, again.json()["error"]["code"]) == (
        409,
        "invalid_state",
    )


def test_a_capture_after_staff_rejected_the_hold_is_refused_for_good(
    primary, api, settings
):
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}
    pid = _held(api, "create-j")
    services.payment_review_reject(
        payment=Payment.objects.get(public_id=pid), actor="staff"
    )
    refused = _storefront(api, pid, "capture", "cap-j")
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        409,
        "invalid_state",
    )


def test_a_fraud_hold_captured_by_staff_can_still_leave_the_queue(
    primary, api, settings
):
    # Staff capture a hold from the payment page (not the review queue): it
    # stays in the queue for staff to see; approving it acknowledges the
    # capture, without a second gateway call.
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}
    pid = _held(api, "create-h")
    captured = services.payment_capture(
        payment=Payment.objects.get(public_id=pid), actor="staff"
    )
    assert captured.status == "captured"
    assert Payment.objects.get(public_id=pid).review_state == ReviewState.PENDING
    payment = services.payment_review_approve(
        payment=Payment.objects.get(public_id=pid), actor="staff"
    )
    assert (payment.status, payment.review_state) == ("captured", "approved")
    assert payment.attempts.filter(operation="capture").count() == 1
    with pytest.raises(services.InvalidState):
        services.payment_review_reject(payment=payment, actor="staff")


def test_the_storefronts_void_of_a_fraud_hold_releases_it_and_closes_the_review(
    primary, api, settings
):
    # The storefront cancels an order it no longer wants: the void releases
    # the hold, and the review is closed as resolved (no money left to judge),
    # on the timeline; staff have nothing left to approve or reject.
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}
    pid = _held(api, "create-v")
    voided = _storefront(api, pid, "void", "v")
    assert voided.status_code == 200, voided.json()
    assert voided.json()["review_state"] == "resolved"
    payment = Payment.objects.get(public_id=pid)
    assert (payment.status, payment.review_state) == ("voided", "resolved")
    assert payment.attempts.filter(operation="void").count() == 1
    assert payment.notes.filter(kind="review_closed").exists()
    assert not PaymentReview.objects.filter(pk=payment.pk).exists()
    for decide in (services.payment_review_approve, services.payment_review_reject):
        with pytest.raises(services.InvalidState):
            decide(payment=Payment.objects.get(public_id=pid), actor="staff")


def test_a_fraud_hold_staff_voided_from_the_payment_page_is_closed_by_rejecting_it(
    primary, api, settings
):
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}
    pid = _held(api, "create-s")
    services.payment_void(payment=Payment.objects.get(public_id=pid), actor="staff")
    assert Payment.objects.get(public_id=pid).review_state == ReviewState.PENDING
    payment = services.payment_review_reject(
        payment=Payment.objects.get(public_id=pid), actor="staff"
    )
    assert (payment.status, payment.review_state) == ("voided", "rejected")
    assert payment.attempts.filter(operation="void").count() == 1


def test_rejecting_a_hold_staff_captured_is_refused_with_what_to_do(
    primary, api, settings
):
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}
    pid = _held(api, "create-r")
    services.payment_capture(payment=Payment.objects.get(public_id=pid), actor="s")
    with pytest.raises(services.InvalidState, match="refund"):
        services.payment_review_reject(
            payment=Payment.objects.get(public_id=pid), actor="staff"
        )
    assert Payment.objects.get(public_id=pid).review_state == ReviewState.PENDING


@pytest.mark.parametrize(
    ("token", "metadata", "param"),
    [
        ("4242 4242 4242 4242", None, "source_token"),
        ("4111-1111-1111-1111", None, "source_token"),
        ("tok_success", {"note": "card 5555555555554444 please"}, "metadata.note"),
    ],
)
def test_pan_is_refused_never_stored_or_logged(primary, caplog, token, metadata, param):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(services.PanRefused) as info:
        create(source_token=token, metadata=metadata)
    assert info.value.param == param
    assert info.value.code == "pan_not_allowed"
    digits = "".join(c for c in (token + str(metadata)) if c.isdigit())[-16:]
    assert digits not in str(info.value)
    assert not Payment.objects.exists() and charges(primary) == 0
    logged = (
        " ".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
        .replace(" ", "")
        .replace("-", "")
    )
    assert digits not in logged


def test_a_non_luhn_number_is_not_a_pan():
    assert not services.looks_like_pan("order 1234567890123")
    assert services.looks_like_pan("4242424242424242")


def test_saved_method_charge_and_recurring(primary, django_capture_on_commit_callbacks):
    method = services.payment_method_save(
        customer_reference="cust-1", source_token="tok_visa", idempotency_key="m1"
    )
    assert method.is_default and method.card_last4 == "4242"
    again = services.payment_method_save(
        customer_reference="cust-1", source_token="tok_visa", idempotency_key="m1"
    )
    assert again.pk == method.pk
    from django.utils import timezone

    due = timezone.now()
    recurring = RecurringCharge.objects.create(
        saved_method=method,
        amount=999,
        currency="EUR",
        interval="month",
        next_run_at=due,
    )
    assert services.recurring_charges_run(now=due) == 1
    assert services.recurring_charges_run(now=due) == 0  # slot already taken
    recurring.refresh_from_db()
    assert recurring.next_run_at > due and recurring.runs == 1
    assert recurring.last_payment.status == PaymentStatus.CAPTURED
    assert recurring.last_payment.amount_captured == 999


def test_saved_3ds_method_off_session_fails_and_stops_recurring(primary):
    from django.utils import timezone

    method = services.payment_method_save(
        customer_reference="cust-2",
        source_token="tok_3ds_required",
        idempotency_key="m2",
    )
    due = timezone.now()
    recurring = RecurringCharge.objects.create(
        saved_method=method,
        amount=500,
        currency="EUR",
        interval="week",
        next_run_at=due,
    )
    assert services.recurring_charges_run(now=due) == 0
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert recurring.last_payment.failure_code == "authentication_required"


def test_unknown_refund_is_resent_with_the_same_key(primary):
    payment = create()
    primary.settings = {"error_rate": 1.0}
    primary.save()
    refund = services.payment_refund(payment=payment, amount=200)
    assert refund.status == RefundStatus.UNKNOWN
    # The unknown refund still counts against what may be refunded.
    with pytest.raises(services.AmountExceedsRefundable):
        services.payment_refund(payment=payment, amount=851)
    primary.settings = {}
    primary.save()
    services.payment_reconcile(payment=payment)
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert payment.amount_refunded == 200
    assert Refund.objects.count() == 1


def test_an_owed_capture_is_dropped_while_staffs_void_is_at_the_gateway(
    primary, monkeypatch, django_capture_on_commit_callbacks
):
    # Reconciliation owes a capture (Square's second call) while a staff void
    # is at the gateway: never sent, then or later (whatever the void's
    # answer, staff cancelled the order), so no later look is scheduled.
    from payments.providers.sandbox import SandboxPaymentsAdapter
    from payments.services.create import owes_capture

    payment = create(capture=False, amount=1000)
    Payment.objects.filter(pk=payment.pk).update(capture_requested=True)
    PaymentAttempt.objects.create(
        payment=payment,
        account=primary,
        operation="void",
        idempotency_key=f"{payment.public_id}-a{primary.pk}-voi",
    )
    monkeypatch.setattr(SandboxPaymentsAdapter, "capture_after_authorize", True)
    calls: list[str] = []
    real = SandboxPaymentsAdapter.capture

    def counted(self, request):
        calls.append("capture")
        return real(self, request)

    monkeypatch.setattr(SandboxPaymentsAdapter, "capture", counted)
    with django_capture_on_commit_callbacks(execute=True):
        payment = services.payment_reconcile(payment=payment)
    assert (payment.status, calls) == (PaymentStatus.AUTHORIZED, [])
    assert not owes_capture(payment)
    assert Schedule.objects.filter(name__startswith="reconcile-").count() == 0


def test_a_capture_retried_before_staff_approve_their_capture_is_not_a_stored_409(
    primary, api, settings
):
    # The create asked for a capture; the hold refused the storefront's
    # capture (409 fraud_review_in_progress, not the key's answer). Staff
    # capture it from the payment page, then approve (acknowledged). The
    # storefront's retry with its key that lands between the two gets a
    # final 409 invalid_state, stored: once staff approve, the same key keeps
    # replaying 409 although the promise is a 200 with the payment.
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}
    pid = _held(api, "create-x")
    first = _storefront(api, pid, "capture", "cap-x")
    assert first.json()["error"]["code"] == "fraud_review_in_progress"
    payment = Payment.objects.get(public_id=pid)
    services.payment_capture(payment=payment, actor="staff")  # payment page
    between = _storefront(api, pid, "capture", "cap-x")
    services.payment_review_approve(
        payment=Payment.objects.get(public_id=pid), actor="staff"
    )
    payment.refresh_from_db()
    assert (payment.status, payment.review_state) == ("captured", "approved")
    after = _storefront(api, pid, "capture", "cap-x")
    assert after.status_code == 200, (
        between.status_code,
        between.json(),
        after.status_code,
        after.json(),
        after.headers.get("Idempotent-Replayed"),
    )


def test_a_storefront_void_of_a_hold_whose_answer_was_lost_still_closes_the_review(
    primary, api, settings, monkeypatch
):
    # The storefront voids an authorize-only fraud hold; the gateway voids it
    # but its answer is lost (unknown, 202). Reconciliation learns it is
    # voided. The hold must leave the queue as resolved (the void's promise),
    # not wait for staff to "reject" an order the storefront cancelled.
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}
    pid = _held(api, "create-v", capture=False)
    real = SandboxPaymentsAdapter.void

    def lost(self, *args, **kwargs):
        real(self, *args, **kwargs)
        raise Unknown("read timed out (test)", code="read_timeout")

    monkeypatch.setattr(SandboxPaymentsAdapter, "void", lost)
    first = _storefront(api, pid, "void", "void-v")
    monkeypatch.undo()
    payment = Payment.objects.get(public_id=pid)
    assert payment.status == "unknown", (first.status_code, first.json())
    tasks.reconcile_payment(payment.pk)
    payment.refresh_from_db()
    # Closed by reconciliation itself: the storefront may never retry.
    assert (payment.status, payment.review_state) == ("voided", "resolved")
    retry = _storefront(api, pid, "void", "void-v")
    payment.refresh_from_db()
    assert payment.status == "voided"
    assert payment.review_state == "resolved", (
        payment.review_state,
        retry.status_code,
    )


def test_a_hold_the_gateway_reports_captured_answers_the_storefronts_capture(
    primary, api, settings
):
    # Captured at the gateway (its webhook), the review still pending: the
    # storefront's capture it asked for is done, answered 200, not a stored
    # 409 its key would replay once staff approve.
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}
    pid = _held(api, "create-w")
    payment = Payment.objects.get(public_id=pid)
    services.payment_event_apply(payment=payment, kind="succeeded")
    payment.refresh_from_db()
    assert (payment.status, payment.review_state) == ("captured", "pending")
    answer = _storefront(api, pid, "capture", "cap-w")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["status"] == "captured"


def test_a_lost_storefront_void_of_a_hold_reported_by_webhook_closes_the_review(
    primary, api, settings, monkeypatch
):
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}
    pid = _held(api, "create-wv", capture=False)

    def lost(self, *args, **kwargs):
        raise Unknown("read timed out (test)", code="read_timeout")

    monkeypatch.setattr(SandboxPaymentsAdapter, "void", lost)
    _storefront(api, pid, "void", "void-wv")
    monkeypatch.undo()
    payment = Payment.objects.get(public_id=pid)
    assert payment.status == "unknown"
    services.payment_event_apply(payment=payment, kind="voided")
    payment.refresh_from_db()
    assert (payment.status, payment.review_state) == ("voided", "resolved")
