"""revpay23 (review of pay23): two resumes of a charge with one retry left,
at once: the cap is read under the charge's row lock, so one resumes and
the other finds it active (InvalidState), never two retries past the cap;
its next decline exhausts the method."""

import time

import pytest
from django.db import transaction

from payments.models import RecurringCharge, RecurringStatus, SandboxCharge
from payments.services.errors import InvalidState
from payments.services.recurring import recurring_charges_report
from payments.services.recurring_manage import RetriesExhausted, recurring_resume
from tests.payments.recurring_setup import (
    in_thread,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_resumes_at_once_give_one_retry(primary, recurring, settings):
    settings.RECURRING_SOFT_DECLINE_RETRY_LIMIT = 1
    SandboxCharge.objects.filter(
        kind="method", reference=recurring.saved_method.provider_method_id
    ).update(source_token="tok_insufficient_funds")
    assert recurring_charges_report().declined == 1
    errors: list[BaseException] = []

    with transaction.atomic():
        RecurringCharge.objects.select_for_update().get(pk=recurring.pk)
        threads = [
            in_thread(lambda: recurring_resume(recurring=recurring), errors)
            for _ in range(2)
        ]
        # Both wait on the row lock held here (neither returns meanwhile).
        time.sleep(0.5)
        assert all(thread.is_alive() for thread in threads), errors
    for thread in threads:
        thread.join(10)

    assert [type(e) for e in errors] == [InvalidState], errors
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert recurring_charges_report().declined == 1
    with pytest.raises(RetriesExhausted):
        recurring_resume(recurring=recurring)
