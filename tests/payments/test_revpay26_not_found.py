"""revpay26: a decline the gateway reports for a recurring try that
reconciliation had ended "not found" (its slot given back), before the
period's retry ran: the period was tried and declined, so the next run
charges nothing and stops the recurring charge for it, as for any declined
period (pay26 said the retry would decide it; it decides only if it ran
first). The storefront's answer names our code only, never the gateway's."""

import pytest

from payments.models import RecurringStatus
from payments.providers.base import Decline
from payments.services.events import payment_event_apply
from payments.services.recurring import (
    recurring_charges_report,
)
from tests.payments.recurring_setup import (
    charges,
    given_back_not_found,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


def test_a_decline_after_not_found_before_the_retry_stops_the_charge(
    primary, recurring
):
    lost = given_back_not_found(primary, recurring)
    made = charges(primary)

    payment_event_apply(
        payment=lost,
        kind="failed",
        decline=Decline(
            "Insufficient funds (sk_live_do_not_show)", code="insufficient_funds"
        ),
    )
    report = recurring_charges_report()

    assert (report.declined, report.charged, charges(primary)) == (1, 0, made)
    recurring.refresh_from_db()
    assert (recurring.status, recurring.last_payment_id) == (
        RecurringStatus.FAILED,
        lost.pk,
    )
    assert payments_of(recurring) == [lost]
    note = lost.notes.get(kind="decline_after_not_found")
    assert "sk_live" not in note.title + note.detail
