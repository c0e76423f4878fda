"""revpay23: the retry cap is on retries of one charge (one transaction)
after its decline. pay23 counted every decline of the recurring charge on
the method in 30 days, those before a period it was then paid for
included: a charge declined, retried (declined), retried and paid, then declined
for its next period, was refused that period's first retry (limit 2). Declines
before the charge's latest paid try no longer count."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import RecurringCharge, RecurringStatus, SandboxCharge
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


def resume(api, recurring):
    return api.post(
        f"/api/v1/recurring-charges/{recurring.public_id}/resume/",
        {},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def card_answers(recurring, token: str) -> None:
    SandboxCharge.objects.filter(
        kind="method", reference=recurring.saved_method.provider_method_id
    ).update(source_token=token)


def test_declines_before_a_paid_period_do_not_count(api, primary, recurring, settings):
    settings.RECURRING_SOFT_DECLINE_RETRY_LIMIT = 2
    card_answers(recurring, "tok_insufficient_funds")
    assert recurring_charges_report().declined == 1
    assert resume(api, recurring).status_code == 200
    assert recurring_charges_report().declined == 1
    # The second retry is paid: that transaction is done.
    card_answers(recurring, "tok_success")
    assert resume(api, recurring).status_code == 200
    assert recurring_charges_report().charged == 1
    # The next period's charge, declined once: its first retry is allowed.
    # Over a minute before the paid slot (the resume's now): a period is
    # named to the minute (its order id), so one minute back fell in the
    # paid slot's own minute when the resume came in a minute's last second.
    card_answers(recurring, "tok_insufficient_funds")
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        next_run_at=timezone.now() - timedelta(minutes=2)
    )
    assert recurring_charges_report().declined == 1
    before = charges(primary)

    response = resume(api, recurring)

    assert response.status_code == 200, response.content
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    card_answers(recurring, "tok_success")
    assert recurring_charges_report().charged == 1
    assert charges(primary) == before + 1
