"""pay43: a capture's or void's attempt is stamped once the row lock is held.

Its instant was the start of the locked read: a capture that waited on the
payment's lock (another request's capture, staff's review) stored an attempt
older by that wait, and the "still under way" judgement let it go as early."""

import threading
import time

import pytest
from django.db import connection, transaction

from integrations.clock import database_now
from payments import services
from payments.models import Payment, PaymentAttempt
from tests.payments.conftest import authorized_payment
from tests.pg import on_a_lock_wait

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _hold_the_lock(payment: Payment, held, waited, released: list) -> None:
    """Another transaction holds the payment's row until the follow-up waits
    on it, a while longer, then notes the database's time and commits."""
    try:
        with transaction.atomic():
            Payment.objects.select_for_update().get(pk=payment.pk)
            held.set()
            assert waited.wait(10)
            time.sleep(0.3)
            released.append(database_now())
    finally:
        connection.close()


@pytest.mark.parametrize("operation", ["capture", "void"])
def test_a_follow_up_that_waited_on_the_lock_is_stamped_after_it(primary, operation):
    payment = authorized_payment()
    held, waited = threading.Event(), threading.Event()
    released: list = []
    holder = threading.Thread(
        target=_hold_the_lock, args=(payment, held, waited, released)
    )
    holder.start()
    assert held.wait(10)
    with on_a_lock_wait(waited.set):
        getattr(services, f"payment_{operation}")(payment=payment)
    holder.join(10)

    attempt = PaymentAttempt.objects.get(payment=payment, operation=operation)
    assert released, "the holder never released the lock"
    assert attempt.created_at >= released[0]
