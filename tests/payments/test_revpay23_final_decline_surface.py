"""revpay23 (review of pay23): a decline final for the card (stop_payment,
or the gateway's do_not_try_again advice) is the card's answer: the first
account's refusal is never failed over to the next one; the storefront sees
our own message and code, the same on an idempotent replay, and never the
advice."""

import pytest

from payments.models import Payment, PaymentStatus, SandboxCharge
from payments.providers.base import Decline
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.messages import public_message

pytestmark = pytest.mark.django_db

BODY = {
    "order_id": "o-revpay23",
    "amount": 1000,
    "currency": "EUR",
    "source_token": "tok_success",
    "capture": True,
}


def declining(code: str, advice: str):
    calls: list[str] = []

    def authorize(self, request):
        calls.append(self.account.slug)
        raise Decline(
            "Your card was declined; secret words of the gateway",
            code=code,
            provider_code="stop_payment_order",
            advice_code=advice,
        )

    return authorize, calls


@pytest.mark.parametrize(
    ("code", "advice"),
    [("stop_payment", "do_not_try_again"), ("card_declined", "do_not_try_again")],
)
def test_a_final_decline_is_not_failed_over_and_replays_the_same(
    api, primary, secondary, monkeypatch, code, advice
):
    authorize, calls = declining(code, advice)
    monkeypatch.setattr(SandboxPaymentsAdapter, "authorize", authorize)

    first = api.post(
        "/api/v1/payments/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-rp23"
    )
    again = api.post(
        "/api/v1/payments/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-rp23"
    )

    assert calls == [primary.slug]
    assert SandboxCharge.objects.filter(account=secondary).count() == 0
    assert first.status_code == again.status_code == 402, first.content
    assert first.json() == again.json()
    error = first.json()["error"]
    assert (error["type"], error["code"]) == ("card_error", code)
    assert error["message"] == public_message(code)
    text = first.content.decode()
    assert "secret words" not in text and advice not in text
    payment = Payment.objects.get()
    assert (payment.status, payment.failure_code, payment.failure_advice_code) == (
        PaymentStatus.FAILED,
        code,
        advice,
    )
