"""revpay28: a decline reported for a recurring try already ended "not
found" (its slot given back), with the card network's "retry after" wait,
before the period's retry ran. The next run charges nothing and stops the
recurring charge for it (revpay26); the wait is about sending a charge, and
nothing is sent, so it must not hold that stop back (pay28 moved the slot to
the wait's end: the unpaid period served for up to ten more days)."""

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


def test_a_late_decline_with_a_wait_still_stops_the_charge_at_the_next_run(
    primary, recurring
):
    lost = given_back_not_found(primary, recurring)
    made = charges(primary)

    payment_event_apply(
        payment=lost,
        kind="failed",
        decline=Decline(
            "Insufficient funds",
            code="insufficient_funds",
            advice_code="retry_after_4_days",
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
