"""pay22: a recurring charge stopped by a hard decline (card lost or
stolen, expired, its number or account invalid) is not resumed on the same
method: 400 payment_method_declined, nothing charged, the charge stays
failed; the storefront moves it to another method. A soft decline
(insufficient funds, do-not-honour) stays resumable. API and admin."""

import uuid

import pytest
from django.contrib.messages import get_messages

from payments import services
from payments.models import Payment, RecurringCharge, RecurringStatus, SandboxCharge
from payments.providers.base import DECLINE_CODES
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.recurring import recurring_charges_report
from payments.services.recurring_manage import HARD_DECLINES
from tests.payments.recurring_setup import (
    charges,
    clerk_resumes,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


def card(method, token: str) -> None:
    SandboxCharge.objects.filter(
        kind="method", reference=method.provider_method_id
    ).update(source_token=token)


def declined(recurring: RecurringCharge, token: str, code: str = "") -> Payment:
    """The run's charge declined with ``token`` (its code then set to
    ``code``, if given): the charge stops."""
    card(recurring.saved_method, token)
    assert recurring_charges_report().declined == 1
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    (payment,) = payments_of(recurring)
    if code:
        Payment.objects.filter(pk=payment.pk).update(failure_code=code)
    return payment


def post(api, url: str, body: dict | None = None):
    return api.post(
        url, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
    )


def resume(api, recurring: RecurringCharge):
    return post(api, f"/api/v1/recurring-charges/{recurring.public_id}/resume/")


def test_the_hard_codes_are_decline_codes():
    assert set(DECLINE_CODES) >= HARD_DECLINES
    assert {"insufficient_funds", "card_declined"}.isdisjoint(HARD_DECLINES)


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("tok_lost_card", ""),
        ("tok_expired_card", ""),
        # A closed or unknown account (Braintree 2007, PayPal 1330).
        ("tok_decline", "incorrect_number"),
    ],
)
def test_resume_after_a_hard_decline_is_refused(api, primary, recurring, token, code):
    payment = declined(recurring, token, code)
    card(recurring.saved_method, "tok_success")  # not that it would help
    before = charges(primary)

    for _ in range(2):
        response = resume(api, recurring)
        assert response.status_code == 400, response.content
        error = response.json()["error"]
        assert (error["code"], error["param"]) == (
            "payment_method_declined",
            "payment_method",
        )
        assert recurring_charges_report().charged == 0

    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert recurring.last_payment_id == payment.pk
    assert charges(primary) == before  # no gateway attempt


@pytest.mark.parametrize("token", ["tok_insufficient_funds", "tok_decline"])
def test_resume_after_a_soft_decline_charges_again(api, primary, recurring, token):
    declined(recurring, token)
    card(recurring.saved_method, "tok_success")

    response = resume(api, recurring)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "active"
    assert recurring_charges_report().charged == 1


def test_a_move_to_the_same_dead_method_is_refused_another_resumes(
    api, primary, recurring
):
    declined(recurring, "tok_lost_card")
    url = f"/api/v1/recurring-charges/{recurring.public_id}/payment-method/"

    same = post(api, url, {"payment_method": recurring.saved_method.public_id})
    assert same.status_code == 400, same.content
    assert same.json()["error"]["code"] == "payment_method_declined"

    other = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m2"
    )
    moved = post(api, url, {"payment_method": other.public_id})
    assert moved.status_code == 200, moved.content
    assert moved.json()["status"] == "active"
    assert recurring_charges_report().charged == 1


def test_a_paused_charge_with_a_kept_hard_decline_is_not_resumed(
    api, primary, recurring, monkeypatch
):
    """Declined (lost card) at a run the charge was paused during: resuming
    it would only stop it again at the next run."""
    card(recurring.saved_method, "tok_lost_card")
    charge_saved = SandboxPaymentsAdapter.charge_saved

    def paused_meanwhile(self, request):
        RecurringCharge.objects.filter(pk=recurring.pk).update(
            status=RecurringStatus.PAUSED
        )
        return charge_saved(self, request)

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", paused_meanwhile)
    assert recurring_charges_report().declined == 1
    monkeypatch.undo()
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.PAUSED

    response = resume(api, recurring)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "payment_method_declined"
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.PAUSED


def test_the_admin_resume_is_refused_too(django_user_model, primary, recurring):
    declined(recurring, "tok_lost_card")

    response = clerk_resumes(django_user_model, recurring)

    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(
        m.startswith(f"{recurring.public_id}: ") and "another payment method" in m
        for m in shown
    ), shown
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED


def test_the_schema_names_the_code():
    from rest_framework.test import APIClient

    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    for path in (
        "/api/v1/recurring-charges/{public_id}/resume/",
        "/api/v1/recurring-charges/{public_id}/payment-method/",
    ):
        post = schema["paths"][path]["post"]
        assert "payment_method_declined" in post["description"] + post.get(
            "summary", ""
        ), path
        bad = post["responses"]["400"]["content"]["application/json"]
        assert any(
            example["value"]["error"]["code"] == "payment_method_declined"
            for example in bad["examples"].values()
        ), path
