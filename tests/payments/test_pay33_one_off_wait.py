"""pay33: a one-off charge of a saved card (``saved_method_charge``) honours
the card network's "retry after" wait (``slots.advised_until``), as the
recurring run does: inside it nothing is sent (networks fine a merchant for
retrying there); the payment is stored failed with our own code and a
message naming when the card may be tried again, its key kept."""

import uuid
from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.models import Event, ProviderCall
from integrations.testing.clocks import machine_clock, shared_by_machines
from payments import services
from payments.models import Payment, PaymentAttempt, PaymentStatus
from payments.providers.base import Decline
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.messages import refusal_type
from tests.payments.test_pay32_card_rule_reads import (
    approvals,
    indexes,
    rows_read,
    rule_reads,
)

pytestmark = pytest.mark.django_db

WAITING = "card_retry_wait"
PROVIDER_TEXT = "Issuer says: retry after 24h (ref 51-XYZ)"


@pytest.fixture
def method(primary):
    return services.payment_method_save(
        customer_reference="cus_33", source_token="tok_success", idempotency_key="m33"
    )


def calls(account) -> int:
    return ProviderCall.objects.filter(account=account).count()


def charge(method, key: str = "") -> Payment:
    return services.saved_method_charge(
        saved_method=method,
        amount=1_500,
        currency="EUR",
        order_id=f"order-{key or uuid.uuid4().hex[:8]}",
        idempotency_key=key or uuid.uuid4().hex,
    )


def advised_decline(monkeypatch, method, advice: str = "retry_after_24_hours"):
    """A one-off charge of ``method`` the network declines with a wait."""

    def decline(self, request):
        raise Decline(
            PROVIDER_TEXT, code="card_declined", provider_code="51", advice_code=advice
        )

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", decline)
    declined = charge(method)
    monkeypatch.undo()
    assert declined.failure_advice_code == advice
    return declined


def events(payment: Payment) -> list[str]:
    found = Event.objects.filter(subject=f"payment:{payment.public_id}")
    return list(found.order_by("pk").values_list("name", flat=True))


def test_a_charge_inside_the_wait_is_refused_unsent(monkeypatch, primary, method):
    declined = advised_decline(monkeypatch, method)
    ends = declined.failure_learnt_at + timedelta(hours=24)
    sent = calls(primary)
    key = uuid.uuid4().hex

    refused = charge(method, key=key)

    assert calls(primary) == sent  # nothing reached the gateway
    assert not PaymentAttempt.objects.filter(payment=refused).exists()
    refused.refresh_from_db()
    assert (refused.status, refused.failure_code) == (PaymentStatus.FAILED, WAITING)
    assert refusal_type(WAITING) == "card_error"
    # Ours, saying when: never the provider's words.
    minute = ends.replace(second=0, microsecond=0)
    shown = (minute if minute == ends else minute + timedelta(minutes=1)).strftime(
        "%Y-%m-%d %H:%M UTC"
    )
    assert shown in refused.failure_message
    assert "51-XYZ" not in refused.failure_message
    assert (refused.failure_provider_code, refused.failure_advice_code) == ("", "")
    assert refused.notes.filter(kind="card_retry_wait").exists()
    assert events(refused) == ["payment.failed"]

    # The same request again: the same payment, told once, nothing sent.
    repeat = charge(method, key=key)
    assert repeat.pk == refused.pk
    assert calls(primary) == sent
    assert events(refused) == ["payment.failed"]


def test_the_card_is_charged_once_the_wait_is_over(monkeypatch, primary, method):
    declined = advised_decline(monkeypatch, method, "retry_after_1_hour")
    Payment.objects.filter(pk=declined.pk).update(
        failure_learnt_at=database_now() - timedelta(minutes=61)
    )

    assert charge(method).status == PaymentStatus.CAPTURED


def test_an_approval_since_the_advice_ends_the_wait(monkeypatch, primary, method):
    advised_decline(monkeypatch, method)
    Payment.objects.create(
        order_id="order-approved",
        amount=700,
        currency="EUR",
        status=PaymentStatus.CAPTURED,
        amount_authorized=700,
        amount_captured=700,
        saved_method=method,
        account=method.account,
        idempotency_key=f"oneoff-{uuid.uuid4().hex}",
    )

    assert charge(method).status == PaymentStatus.CAPTURED


def test_another_card_of_the_customer_is_charged(monkeypatch, primary, method):
    advised_decline(monkeypatch, method)
    other = services.payment_method_save(
        customer_reference="cus_33", source_token="tok_success", idempotency_key="o33"
    )

    assert charge(other).status == PaymentStatus.CAPTURED


def test_a_hard_decline_is_still_told_as_such(monkeypatch, primary, method):
    advised_decline(monkeypatch, method)
    Payment.objects.create(
        order_id="order-final",
        amount=900,
        currency="EUR",
        status=PaymentStatus.FAILED,
        failure_code="card_declined",
        failure_advice_code="do_not_try_again",
        failure_learnt_at=database_now(),
        saved_method=method,
        account=method.account,
    )

    assert charge(method).failure_code == "payment_method_declined"


def test_the_wait_is_read_on_the_databases_clock(monkeypatch, primary, method):
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite's clock is this machine's")
    declined = advised_decline(monkeypatch, method, "retry_after_1_hour")
    # Ten seconds of the wait left by the database's clock ...
    Payment.objects.filter(pk=declined.pk).update(
        failure_learnt_at=database_now() - timedelta(minutes=59, seconds=50)
    )
    sent = calls(primary)

    # ... on a web machine whose clock is two minutes ahead.
    with machine_clock(120):
        refused = charge(method)

    assert refused.failure_code == WAITING
    assert calls(primary) == sent


@pytest.mark.postgres
def test_the_wait_of_a_busy_card_is_read_on_few_rows(monkeypatch, primary, method):
    approvals(method, database_now() - timedelta(days=5))
    advised_decline(monkeypatch, method, "retry_after_1_hour")

    plans = rule_reads(method)

    assert Payment.objects.filter(failure_code=WAITING).exists()
    assert all(rows_read(plan) < 50 for plan in plans), plans
    assert "payment_card_retry_advice" in indexes(plans)
