"""r-pay41b: every payment's created_at is now the database's time (a card's
charge since pay41, a token's since pay41b), so the fraud velocity window
must be measured by that clock too. It was ``timezone.now()`` of the
screening machine: one ahead by more than the window counted none of a
customer's recent payments (the rule evaded), one behind counted payments
long out of the window (a good customer held for review)."""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import shared_by_machines, whole_machine_clock
from payments.fraud import payment_screen
from payments.models import Payment

pytestmark = pytest.mark.django_db

HOUR = 3600


@pytest.fixture(autouse=True)
def _velocity(settings) -> None:
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite's clock is this machine's")
    settings.FRAUD_VELOCITY_WINDOW_MINUTES = 60
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 3
    settings.FRAUD_VELOCITY_MAX_PER_EMAIL = 0
    settings.FRAUD_VELOCITY_MAX_PER_IP = 0


def _paid(count: int, *, ago: timedelta) -> None:
    at = database_now() - ago
    for n in range(count):
        Payment.objects.create(
            order_id=f"o-{n}",
            customer_reference="cus-r41b",
            amount=1_000,
            currency="EUR",
            status="captured",
            created_at=at,
        )


def _reasons() -> list[str]:
    return payment_screen(
        amount=1_000,
        currency="EUR",
        customer_reference="cus-r41b",
        customer_email="",
        ip_address=None,
        billing_country="",
        card_fingerprint="",
        ip_country="",
    ).reasons


def test_a_machine_ahead_still_counts_the_last_hours_payments():
    _paid(3, ago=timedelta(minutes=5))

    with whole_machine_clock(2 * HOUR):
        assert _reasons() == ["velocity_customer"]


def test_a_machine_behind_does_not_count_payments_out_of_the_window():
    _paid(3, ago=timedelta(hours=2))

    with whole_machine_clock(-3 * HOUR):
        assert _reasons() == []
