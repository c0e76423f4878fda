"""revpay31: a resume whose charge moved to another card between reading its
card and locking the charge must not then wait for the new card's lock while
holding the charge's: whoever holds that card (a resume, a move, a failure
being stored) takes the charge's lock next, and the two deadlock (one is
aborted by PostgreSQL with a database error, a 500). The resume lets go of
both and starts over on the card it found. Real transactions, in threads; a
server database."""

import threading
import time

import pytest
from django.db import OperationalError

from integrations.testing.clocks import shared_by_machines
from payments import services
from payments.models import RecurringStatus
from payments.services import recurring_manage
from payments.services.errors import InvalidState
from payments.services.recurring_manage import (
    recurring_method_change,
    recurring_pause,
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


def test_a_resume_of_a_charge_moved_meanwhile_does_not_deadlock(
    monkeypatch, primary, recurring
):
    first = recurring.saved_method
    other = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m2"
    )
    recurring_pause(recurring=recurring)
    real = recurring_manage.card_lock
    mover_done, other_held, wants_other = (threading.Event() for _ in range(3))
    threads: dict[str, threading.Thread] = {}

    def card_lock(method_id: int) -> None:
        me = threading.current_thread()
        if me is threads.get("late") and method_id == first.pk:
            # Read the charge on ``first``; it moves to ``other`` now.
            moved = in_thread(move, errors, mover_done)
            moved.join(10)
        if me is threads.get("late") and method_id == other.pk:
            wants_other.set()
            other_held.wait(10)
            time.sleep(0.5)  # the other resume now waits for the charge
        real(method_id)
        if me is threads.get("early") and method_id == other.pk:
            other_held.set()

    def move() -> None:
        recurring_method_change(recurring=recurring, method_id=other.public_id)

    monkeypatch.setattr(recurring_manage, "card_lock", card_lock)
    errors: list[BaseException] = []
    late_errors: list[BaseException] = []

    def resume() -> None:
        recurring_resume(recurring=recurring)

    threads["late"] = in_thread(resume, late_errors)
    assert wants_other.wait(10)
    threads["early"] = in_thread(resume, errors)
    for thread in threads.values():
        thread.join(20)
        assert not thread.is_alive()

    assert mover_done.is_set()
    everything = errors + late_errors
    assert not [e for e in everything if isinstance(e, OperationalError)], everything
    # One resume resumed it; the other found it active: a plain refusal.
    assert [type(e) for e in everything] == [InvalidState], everything
    recurring.refresh_from_db()
    assert (recurring.status, recurring.saved_method_id) == (
        RecurringStatus.ACTIVE,
        other.pk,
    )
