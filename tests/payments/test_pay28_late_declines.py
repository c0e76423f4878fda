"""pay28: a decline the gateway reports for a payment already failed
without the card's word (``failed_at_provider``: the gateway said failed but
not why; ``settled_by_staff``: staff settled an unknown as failed) is kept
on it as pay26 keeps one after ``not_found_at_provider``: still failed, the
decline's fields stored (the card's rule reads them), a note on the
timeline that never quotes the provider's text."""

import pytest

from payments.models import Payment, PaymentStatus
from payments.providers.base import Decline
from payments.services.events import payment_event_apply
from tests.payments.recurring_setup import (
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    unknown_run,
)

pytestmark = pytest.mark.django_db

DECLINE = Decline(
    "Lost card (sk_live_do_not_show)",
    code="lost_or_stolen",
    provider_code="2012",
    advice_code="do_not_try_again",
)


def _failed_without_reason(primary, recurring) -> Payment:
    """The unknown try failed on the gateway's word, no decline given."""
    lost = unknown_run(primary, recurring)
    payment_event_apply(payment=lost, kind="failed")
    lost.refresh_from_db()
    assert (lost.status, lost.failure_code) == (
        PaymentStatus.FAILED,
        "failed_at_provider",
    )
    return lost


def _settled_by_staff(primary, recurring) -> Payment:
    lost = unknown_run(primary, recurring)
    Payment.objects.filter(pk=lost.pk).update(
        status=PaymentStatus.FAILED, failure_code="settled_by_staff"
    )
    lost.refresh_from_db()
    return lost


@pytest.mark.parametrize(
    ("failed", "kind"),
    [
        (_failed_without_reason, "decline_after_failure"),
        (_settled_by_staff, "decline_after_settled"),
    ],
)
def test_a_decline_after_a_failure_without_reason_is_kept(
    primary, recurring, failed, kind
):
    lost = failed(primary, recurring)
    learnt = lost.failure_learnt_at

    payment_event_apply(payment=lost, kind="failed", decline=DECLINE)

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.FAILED
    assert (
        lost.failure_code,
        lost.failure_provider_code,
        lost.failure_advice_code,
    ) == ("lost_or_stolen", "2012", "do_not_try_again")
    assert lost.failure_learnt_at is not None
    assert learnt is None or lost.failure_learnt_at >= learnt
    note = lost.notes.get(kind=kind)
    assert "sk_live" not in note.title + note.detail
    assert "lost_or_stolen" in note.title


def test_a_second_decline_of_a_declined_payment_changes_nothing(primary, recurring):
    lost = _failed_without_reason(primary, recurring)
    payment_event_apply(payment=lost, kind="failed", decline=DECLINE)
    later = Decline("Insufficient funds", code="insufficient_funds")

    payment_event_apply(payment=lost, kind="failed", decline=later)

    lost.refresh_from_db()
    assert lost.failure_code == "lost_or_stolen"
    assert lost.notes.filter(kind__startswith="decline_after").count() == 1
