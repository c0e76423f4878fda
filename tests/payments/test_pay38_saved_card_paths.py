"""pay38: every path that charges a saved card honours the card's hold, the
network's "retry after" wait and a decline for good, whichever charge
learnt it (here a one-off's): the one-off service (``saved_method_charge``:
refused unsent, ``card_retry_wait`` / ``payment_method_declined``), the
recurring run's command (held to the wait's end / stopped, nothing sent),
the API's new recurring charge (first due at the wait's end / 400
``payment_method_declined``) and the admin's resume (refused). No endpoint
charges a saved card at once (tests/payments/test_ops35_402_docs.py)."""

from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from payments import services
from payments.models import Payment, PaymentStatus, RecurringCharge, RecurringStatus
from payments.providers.base import Decline
from payments.providers.sandbox import SandboxPaymentsAdapter
from tests.payments.recurring_setup import (
    charges,
    due_charge,
    new_charge_on,
    payments_of,
    saved_card_charge,
)

pytestmark = pytest.mark.django_db

CUSTOMER = "cus_38"
CHANGELIST = reverse("admin:payments_recurringcharge_changelist")


@pytest.fixture
def method(primary):
    return services.payment_method_save(
        customer_reference=CUSTOMER, source_token="tok_success", idempotency_key="m38"
    )


@pytest.fixture
def recurring(method) -> RecurringCharge:
    # Due now: the run would charge it at once.
    return due_charge(method)


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff38", "s@example.com", "p")
    client.force_login(user)
    return client


def declined_one_off(monkeypatch, method, code: str, advice: str = "") -> Payment:
    def decline(self, request):
        raise Decline("issuer text", code=code, provider_code="05", advice_code=advice)

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", decline)
    declined = saved_card_charge(method)
    monkeypatch.undo()
    assert declined.status == PaymentStatus.FAILED
    return declined


def run() -> str:
    out = StringIO()
    call_command("run_recurring_charges", stdout=out)
    return out.getvalue()


def api_create(api, method):
    return new_charge_on(api, method, CUSTOMER)


def test_every_path_keeps_the_networks_wait(
    monkeypatch, primary, method, recurring, api
):
    declined = declined_one_off(
        monkeypatch, method, "card_declined", "retry_after_24_hours"
    )
    ends = declined.failure_learnt_at + timedelta(hours=24)
    sent = charges(primary)

    refused = saved_card_charge(method)
    report = run()
    made = api_create(api, method)

    assert (refused.status, refused.failure_code) == (
        PaymentStatus.FAILED,
        "card_retry_wait",
    )
    assert "held for the card network's advice" in report
    recurring.refresh_from_db()
    assert recurring.next_run_at == ends
    assert payments_of(recurring) == []
    assert made.status_code == 201, made.content
    assert datetime.fromisoformat(made.json()["next_run_at"]) == ends
    assert charges(primary) == sent


def test_every_path_keeps_a_decline_for_good(
    monkeypatch, primary, method, recurring, api, staff
):
    declined_one_off(monkeypatch, method, "lost_or_stolen")
    sent = charges(primary)

    refused = saved_card_charge(method)
    report = run()
    made = api_create(api, method)
    page = staff.post(
        CHANGELIST,
        {"action": "resume", "_selected_action": [recurring.pk]},
        follow=True,
    )

    assert (refused.status, refused.failure_code) == (
        PaymentStatus.FAILED,
        "payment_method_declined",
    )
    assert "1 declined, stopped" in report
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert payments_of(recurring) == []
    assert made.status_code == 400, made.content
    assert made.json()["error"]["code"] == "payment_method_declined"
    assert "declined for good" in page.content.decode()
    assert charges(primary) == sent
