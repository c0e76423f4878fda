"""Payments' "Settle by hand" page on the shared staff-action base
(integrations.admin.staff_action), as it was: CSRF checked, a payment not
unknown sent back to its page with a warning and not settled."""

import pytest
from django.contrib.messages import WARNING, get_messages
from django.test import Client
from django.urls import reverse

from payments.models import Payment, PaymentStatus
from tests.staff_clients import permitted_staff

pytestmark = pytest.mark.django_db


def _settler(django_user_model, **client_options) -> Client:
    return permitted_staff(
        django_user_model,
        "settler",
        "payments",
        ["view_payment", "settle_payment"],
        **client_options,
    )


def _settle_url(payment: Payment) -> str:
    return reverse("admin:payments_payment_settle", args=[payment.pk])


def test_the_settle_form_needs_a_csrf_token(django_user_model, make_payment):
    payment = make_payment(token="tok_timeout")
    assert payment.status == PaymentStatus.UNKNOWN
    guarded = _settler(django_user_model, enforce_csrf_checks=True)
    answer = guarded.post(_settle_url(payment), {"outcome": "failed", "note": "n"})
    assert answer.status_code == 403
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.UNKNOWN


def test_a_payment_not_unknown_goes_back_to_its_page_with_a_warning(
    django_user_model, make_payment
):
    payment = make_payment()
    client = _settler(django_user_model)
    answer = client.post(_settle_url(payment), {"outcome": "failed", "note": "n"})
    assert answer.status_code == 302
    assert answer.url == reverse("admin:payments_payment_change", args=[payment.pk])
    [message] = get_messages(answer.wsgi_request)
    assert message.level == WARNING
    assert str(message) == (
        f"{payment.public_id} is captured: only an unknown payment is settled by hand."
    )
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CAPTURED
