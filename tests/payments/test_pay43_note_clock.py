"""pay43: a payment's notes are stamped by the database's clock.

The payment, its attempts and events are stamped by the database; a note
(the provider's words, a failure left behind) took the writing machine's
clock, so on a machine behind the timeline showed the gateway's decline
before the payment it declined was created."""

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import whole_machine_clock
from payments import services
from payments.models import PaymentNote, PaymentStatus
from payments.selectors import payment_timeline
from tests.payments.clock_setup import server_database_only  # noqa: F401

pytestmark = pytest.mark.django_db

SKEW = 600  # seconds this machine's clock is behind the database's


def test_a_decline_noted_on_a_machine_behind_follows_the_payment(primary):
    with whole_machine_clock(-SKEW):
        payment = services.payment_create(
            order_id="o-note",
            amount=1000,
            currency="EUR",
            source_token="tok_decline",
            capture=True,
            idempotency_key="pay43-note",
        )
    assert payment.status == PaymentStatus.FAILED

    note = PaymentNote.objects.get(payment=payment, kind="provider_message")
    assert abs((database_now() - note.created_at).total_seconds()) < 60
    kinds = [entry.kind for entry in payment_timeline(payment)]
    assert kinds.index("created") < kinds.index("provider_message"), kinds


def test_a_note_reads_back_its_database_stamp(primary):
    payment = services.payment_create(
        order_id="o-note-2",
        amount=1000,
        currency="EUR",
        source_token="tok_success",
        capture=False,
        idempotency_key="pay43-note-2",
    )
    with whole_machine_clock(-SKEW):
        note = PaymentNote.objects.create(payment=payment, kind="k", title="t")
    # The instance holds the time the INSERT wrote (read back in it).
    assert note.created_at == PaymentNote.objects.get(pk=note.pk).created_at
    assert abs((database_now() - note.created_at).total_seconds()) < 60
