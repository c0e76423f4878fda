"""pay23 (services, API): a recurring charge declined for ``stop_payment``
(the cardholder stopped paying us), or with the gateway's advice
``do_not_try_again``, is not resumed on that card: 400
payment_method_declined, nothing charged. The advice is kept for staff on
the payment (``failure_advice_code``, the admin), never in the storefront's
answer; ``try_again_later`` stays resumable."""

import uuid

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from payments.models import Payment, PaymentStatus, RecurringStatus
from payments.providers.base import Decline
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


def declined_with(monkeypatch, recurring, code: str, advice: str = "") -> Payment:
    """The run's charge declined by the gateway with ``code`` and ``advice``."""

    def decline(self, request):
        raise Decline(
            "Your card was declined. do_not_try_again",
            code=code,
            provider_code="generic_decline",
            advice_code=advice,
        )

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", decline)
    assert recurring_charges_report().declined == 1
    monkeypatch.undo()
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    (payment,) = payments_of(recurring)
    return payment


def resume(api, recurring):
    return api.post(
        f"/api/v1/recurring-charges/{recurring.public_id}/resume/",
        {},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


@pytest.mark.parametrize(
    ("code", "advice"),
    [("stop_payment", ""), ("card_declined", "do_not_try_again")],
)
def test_resume_after_a_final_decline_is_refused(
    api, primary, recurring, monkeypatch, code, advice
):
    payment = declined_with(monkeypatch, recurring, code, advice)
    assert (payment.failure_code, payment.failure_advice_code) == (code, advice)
    before = charges(primary)

    response = resume(api, recurring)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "payment_method_declined"
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert charges(primary) == before


@pytest.mark.parametrize("advice", ["try_again_later", ""])
def test_resume_after_a_soft_decline_with_retry_advice_charges(
    api, primary, recurring, monkeypatch, advice
):
    declined_with(monkeypatch, recurring, "card_declined", advice)

    response = resume(api, recurring)

    assert response.status_code == 200, response.content
    assert recurring_charges_report().charged == 1


def test_the_advice_is_for_staff_not_the_storefront(api, primary, monkeypatch):
    def decline(self, request):
        raise Decline(
            "declined",
            code="card_declined",
            provider_code="generic_decline",
            advice_code="do_not_try_again",
        )

    monkeypatch.setattr(SandboxPaymentsAdapter, "authorize", decline)
    response = api.post(
        "/api/v1/payments/",
        {
            "order_id": "o-1",
            "amount": 1000,
            "currency": "EUR",
            "source_token": "tok_success",
            "capture": True,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-advice",
    )

    assert response.status_code == 402, response.content
    assert "do_not_try_again" not in response.content.decode()
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_advice_code == "do_not_try_again"


def test_the_admin_shows_the_advice(django_user_model, primary, monkeypatch, api):
    test_the_advice_is_for_staff_not_the_storefront(api, primary, monkeypatch)
    payment = Payment.objects.get()
    user = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="payments", codename="view_payment"
        )
    )
    client = Client()
    client.force_login(user)

    page = client.get(reverse("admin:payments_payment_change", args=[payment.pk]))

    assert page.status_code == 200
    assert "do_not_try_again" in page.content.decode()
