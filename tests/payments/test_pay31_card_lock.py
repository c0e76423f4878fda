"""pay31: a resume of a recurring charge, a move of one to a card, and a new
recurring charge on a card read the card's rule under the card's row lock,
which the transaction storing a failure of the card's charges holds too. A
hard decline being stored meanwhile is waited for and seen: the charge is
refused (payment_method_declined), never let through for one more charge.
Real transactions, in threads; a server database (SQLite takes one writer
at a time: nothing there runs meanwhile)."""

import time
import uuid

import pytest
from django.db import transaction

from integrations.testing.clocks import shared_by_machines
from payments import services
from payments.models import Payment, RecurringCharge, RecurringStatus, SandboxCharge
from payments.services.recurring import recurring_charges_report
from payments.services.recurring_manage import (
    MethodDeclined,
    recurring_create,
    recurring_method_change,
    recurring_resume,
)
from tests.payments.recurring_setup import (
    in_thread,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _server_database():
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite serializes the writers")


def card(method, token: str) -> None:
    SandboxCharge.objects.filter(
        kind="method", reference=method.provider_method_id
    ).update(source_token=token)


def stopped(recurring: RecurringCharge) -> None:
    """A soft decline stopped the charge: resumable, as far as it knows."""
    card(recurring.saved_method, "tok_insufficient_funds")
    assert recurring_charges_report().declined == 1
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED


def while_a_hard_decline_is_stored(method, action) -> list[BaseException]:
    """Run ``action`` in another thread while this one stores a one-off
    charge's hard decline of ``method`` and has not committed it yet."""
    card(method, "tok_lost_card")
    errors: list[BaseException] = []
    with transaction.atomic():
        declined = services.saved_method_charge(
            saved_method=method,
            amount=700,
            currency="EUR",
            order_id="order-lost",
            idempotency_key=uuid.uuid4().hex,
        )
        assert declined.failure_code == "lost_or_stolen"
        thread = in_thread(action, errors)
        time.sleep(0.5)  # the other reads the card's rule now, or waits
    thread.join(10)
    assert not thread.is_alive()
    return errors


def test_a_resume_waits_for_a_hard_decline_being_stored(primary, recurring):
    stopped(recurring)

    errors = while_a_hard_decline_is_stored(
        recurring.saved_method, lambda: recurring_resume(recurring=recurring)
    )

    assert [type(e) for e in errors] == [MethodDeclined], errors
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    runs = Payment.objects.filter(metadata__recurring_charge=recurring.public_id)
    before = runs.count()
    recurring_charges_report()
    assert runs.count() == before  # not one more charge


def test_a_move_to_the_card_waits_for_a_hard_decline_being_stored(primary, recurring):
    first = recurring.saved_method
    other = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m2"
    )
    recurring_method_change(recurring=recurring, method_id=other.public_id)
    recurring.refresh_from_db()
    stopped(recurring)

    errors = while_a_hard_decline_is_stored(
        first,
        lambda: recurring_method_change(recurring=recurring, method_id=first.public_id),
    )

    assert [type(e) for e in errors] == [MethodDeclined], errors
    recurring.refresh_from_db()
    assert (recurring.status, recurring.saved_method_id) == (
        RecurringStatus.FAILED,
        other.pk,
    )


def test_a_new_charge_on_the_card_waits_for_a_hard_decline_being_stored(
    primary, recurring
):
    method = recurring.saved_method
    made: list[RecurringCharge] = []

    def create() -> None:
        made.append(
            recurring_create(
                customer_reference="cus_1",
                method_id=method.public_id,
                amount=900,
                currency="EUR",
                interval="month",
            )
        )

    errors = while_a_hard_decline_is_stored(method, create)

    assert [type(e) for e in errors] == [MethodDeclined], errors
    assert made == []
    assert RecurringCharge.objects.count() == 1  # the fixture's only
