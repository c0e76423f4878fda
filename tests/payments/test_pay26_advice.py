"""pay26 (adapters, services, API): Mastercard's merchant advice codes 24-30
("Retry after 1 hour", 24 hours, 2, 4, 6, 8, 10 days: Braintree's "Merchant
Advice Codes" reference, which Stripe's ``network_advice_code`` and PayPal's
``payment_advice_code`` pass on) are read by the shared table, and a
recurring charge stopped by such a decline is not charged again on that
card before the wait is over. Braintree's processor codes 2015 (Transaction
Not Allowed), 2019 (Invalid Transaction), 2020 (Violation) and 2021
(Security Violation) are "Hard" in its authorization responses table: final
for the card."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import Payment, RecurringStatus
from payments.providers.base import Decline
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.providers.stripe_errors import stripe_decline
from payments.services.recurring import recurring_charges_report
from tests.payments.decline_answers import (
    braintree_declined,
    braintree_refusal,
    card_error,
)
from tests.payments.providers.test_braintree import (  # noqa: F401 (fixtures)
    account,
    adapter,
    mocked,
)
from tests.payments.recurring_setup import (
    charges,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db

WAITS = {
    "24": ("retry_after_1_hour", timedelta(hours=1)),
    "25": ("retry_after_24_hours", timedelta(hours=24)),
    "26": ("retry_after_2_days", timedelta(days=2)),
    "27": ("retry_after_4_days", timedelta(days=4)),
    "28": ("retry_after_6_days", timedelta(days=6)),
    "29": ("retry_after_8_days", timedelta(days=8)),
    "30": ("retry_after_10_days", timedelta(days=10)),
}


@pytest.mark.parametrize("mac", sorted(WAITS))
def test_braintree_reads_the_timed_advice(adapter, mocked, mac):  # noqa: F811
    refused = braintree_refusal(
        adapter, mocked, braintree_declined("2001", merchant_advice=mac)
    )

    assert (refused.code, refused.advice_code) == ("insufficient_funds", WAITS[mac][0])


@pytest.mark.parametrize("gateway_advice", ["", "try_again_later"])
def test_stripe_reads_the_timed_network_advice(gateway_advice):
    error = card_error(
        "insufficient_funds", network_advice_code="26", advice_code=gateway_advice
    )

    assert stripe_decline(error).advice_code == "retry_after_2_days"


def test_stripes_do_not_try_again_wins_over_a_timed_network_advice():
    error = card_error(
        "generic_decline", network_advice_code="25", advice_code="do_not_try_again"
    )

    assert stripe_decline(error).advice_code == "do_not_try_again"


@pytest.mark.parametrize("code", ["2015", "2019", "2020", "2021"])
def test_braintree_hard_declines_are_final(adapter, mocked, code):  # noqa: F811
    refused = braintree_refusal(adapter, mocked, braintree_declined(code))

    assert (refused.code, refused.provider_code) == ("card_declined", code)
    assert refused.advice_code == "do_not_try_again"


def resume(api, recurring):
    return api.post(
        f"/api/v1/recurring-charges/{recurring.public_id}/resume/",
        {},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def declined_run(monkeypatch, recurring, advice: str) -> Payment:
    def decline(self, request):
        raise Decline(
            "Insufficient funds.",
            code="insufficient_funds",
            provider_code="51",
            advice_code=advice,
        )

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", decline)
    assert recurring_charges_report().declined == 1
    monkeypatch.undo()
    (payment,) = payments_of(recurring)
    return payment


@pytest.mark.parametrize("mac", ["24", "25", "30"])
def test_a_resume_waits_for_the_networks_retry_time(
    api, monkeypatch, primary, recurring, mac
):
    word, wait = WAITS[mac]
    declined = declined_run(monkeypatch, recurring, word)
    declined.refresh_from_db()
    assert declined.failure_advice_code == word
    learnt = declined.failure_learnt_at

    response = resume(api, recurring)

    assert response.status_code == 200, response.content
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert recurring.next_run_at >= learnt + wait
    # The run before then charges nothing.
    before = charges(primary)
    report = recurring_charges_report(now=learnt + wait - timedelta(minutes=1))
    assert (report.charged, charges(primary)) == (0, before)


def test_a_resume_after_the_wait_charges_at_once(api, monkeypatch, recurring):
    declined = declined_run(monkeypatch, recurring, "retry_after_1_hour")
    Payment.objects.filter(pk=declined.pk).update(
        failure_learnt_at=timezone.now() - timedelta(hours=2)
    )

    assert resume(api, recurring).status_code == 200

    recurring.refresh_from_db()
    assert recurring.next_run_at <= timezone.now()


def test_a_plain_try_again_later_resumes_at_once(api, monkeypatch, recurring):
    declined_run(monkeypatch, recurring, "try_again_later")

    assert resume(api, recurring).status_code == 200

    recurring.refresh_from_db()
    assert recurring.next_run_at <= timezone.now()
