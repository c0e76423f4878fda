"""revpay22: a hard decline (card lost or stolen, expired, number or account
invalid or closed) belongs to the saved method, not to the one decline a
charge last stopped on. pay22 refused only the charge's latest decline:
moved to another card, declined there softly, then moved back to the lost
one, the charge was restarted on a card certain to be declined again (one
more attempt the card networks fine). So was a paused charge moved back to
it and resumed, and a new charge set up on it."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import Payment, RecurringCharge, RecurringStatus, SandboxCharge
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


def card(method, token: str) -> None:
    SandboxCharge.objects.filter(
        kind="method", reference=method.provider_method_id
    ).update(source_token=token)


def post(api, url: str, body: dict | None = None):
    return api.post(
        url, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
    )


def move(api, recurring: RecurringCharge, method):
    url = f"/api/v1/recurring-charges/{recurring.public_id}/payment-method/"
    return post(api, url, {"payment_method": method.public_id})


def refused(response) -> bool:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    return (error["code"], error["param"]) == (
        "payment_method_declined",
        "payment_method",
    )


@pytest.fixture
def lost_then_other(api, primary, recurring):
    """The charge's card declined as lost (stopped), then moved to another."""
    lost = recurring.saved_method
    card(lost, "tok_lost_card")
    assert recurring_charges_report().declined == 1
    card(lost, "tok_success")  # not that the issuer would say so
    other = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m2"
    )
    assert move(api, recurring, other).status_code == 200
    return lost, other


def test_a_move_back_after_a_soft_decline_elsewhere_is_refused(
    api, primary, recurring, lost_then_other
):
    lost, other = lost_then_other
    card(other, "tok_insufficient_funds")
    assert recurring_charges_report().declined == 1
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    before = charges(primary)

    assert refused(move(api, recurring, lost))

    recurring.refresh_from_db()
    assert (recurring.status, recurring.saved_method_id) == (
        RecurringStatus.FAILED,
        other.pk,
    )
    assert recurring_charges_report().charged == 0
    assert charges(primary) == before


def test_a_paused_charge_is_not_moved_back_to_the_lost_card(
    api, primary, recurring, lost_then_other
):
    lost, other = lost_then_other
    pause = post(api, f"/api/v1/recurring-charges/{recurring.public_id}/pause/")
    assert pause.status_code == 200, pause.content

    assert refused(move(api, recurring, lost))
    recurring.refresh_from_db()
    assert recurring.saved_method_id == other.pk


def test_a_new_charge_on_the_lost_card_is_refused(api, primary, recurring):
    card(recurring.saved_method, "tok_lost_card")
    assert recurring_charges_report().declined == 1

    response = post(
        api,
        "/api/v1/customers/cus_1/recurring-charges/",
        {
            "payment_method": recurring.saved_method.public_id,
            "amount": 900,
            "currency": "EUR",
            "interval": "month",
        },
    )

    assert refused(response)
    assert RecurringCharge.objects.count() == 1


def test_a_later_success_on_the_method_clears_it(api, primary, recurring):
    """The issuer's word that counts is its latest: a card charged after its
    hard decline (one-off, say) is usable again."""
    method = recurring.saved_method
    card(method, "tok_lost_card")
    assert recurring_charges_report().declined == 1
    card(method, "tok_success")
    # Approved since (a one-off charge of it is refused while held: pay32).
    Payment.objects.create(
        order_id="order-7",
        amount=500,
        currency="EUR",
        status="captured",
        amount_authorized=500,
        amount_captured=500,
        idempotency_key="one-off-1",
        saved_method=method,
        account=method.account,
    )
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        next_run_at=timezone.now() - timedelta(minutes=1)
    )

    response = post(api, f"/api/v1/recurring-charges/{recurring.public_id}/resume/")

    assert response.status_code == 200, response.content
    assert recurring_charges_report().charged == 1
