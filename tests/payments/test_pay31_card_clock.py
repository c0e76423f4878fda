"""pay31: the saved card's rule compares a decline's learnt time with an
approved charge's creation, stamps that processes on different machines
write. Both come from the database's clock, so a machine whose clock is
off (NTP leaves seconds, a broken one minutes) cannot turn the order round:
a decline learnt after an approval stays in force, wherever each was
written. Through the services and the API, on a server database (SQLite's
one clock is this machine's)."""

import pytest

from integrations.testing.clocks import shared_by_machines, whole_machine_clock
from payments.models import Payment, PaymentStatus, SandboxCharge
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    saved_card_charge,
)
from tests.payments.test_revpay26_card_rule import new_charge_on

pytestmark = pytest.mark.django_db

SKEW = 120.0  # seconds: a machine whose clock is two minutes off


@pytest.fixture(autouse=True)
def _server_database():
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite's clock is this machine's")


def card(method, token: str) -> None:
    SandboxCharge.objects.filter(
        kind="method", reference=method.provider_method_id
    ).update(source_token=token)


def charge(method) -> Payment:
    """A one-off charge of the saved card (its current token decides)."""
    return saved_card_charge(method)


def lost(method) -> Payment:
    card(method, "tok_lost_card")
    declined = charge(method)
    assert (declined.status, declined.failure_code) == ("failed", "lost_or_stolen")
    return declined


def assert_refused(api, method) -> None:
    response = new_charge_on(api, method)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "payment_method_declined"


def test_a_decline_learnt_on_a_machine_behind_stays_after_an_approval(
    api, primary, recurring
):
    method = recurring.saved_method
    approved = charge(method)
    assert approved.status == PaymentStatus.CAPTURED
    # Learnt after the approval, by a worker whose clock is behind.
    with whole_machine_clock(-SKEW):
        declined = lost(method)

    assert declined.failure_learnt_at > approved.created_at
    assert_refused(api, method)


def test_an_approval_made_on_a_machine_ahead_does_not_outrank_a_later_decline(
    api, primary, recurring
):
    method = recurring.saved_method
    with whole_machine_clock(SKEW):
        approved = charge(method)
    assert approved.status == PaymentStatus.CAPTURED
    declined = lost(method)

    stored = Payment.objects.get(pk=approved.pk)
    assert stored.created_at == approved.created_at  # the value it was given
    assert declined.failure_learnt_at > stored.created_at
    assert_refused(api, method)


def test_a_run_on_a_machine_ahead_does_not_outrank_a_later_decline(
    api, primary, recurring
):
    method = recurring.saved_method
    with whole_machine_clock(SKEW):
        assert recurring_charges_report().charged == 1
    (paid,) = payments_of(recurring)
    lost(method)

    assert_refused(api, method)
    assert Payment.objects.get(pk=paid.pk).created_at == paid.created_at
