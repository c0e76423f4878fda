"""Staff approving a fraud hold the storefront asked to authorize only: the
storefront is told the hold cleared (``payment.authorized`` again, with
``review: "approved"``), as it is told of an approval that captures
(``payment.captured``) or a rejection (``payment.voided``)."""

import pytest
from django.urls import reverse

from integrations.models import Event
from payments import services
from payments.models import Payment
from tests.payments.test_services import _held

pytestmark = pytest.mark.django_db


@pytest.fixture
def held_settings(settings):
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}


def _events(payment_id: str) -> list[tuple[str, dict]]:
    return [
        (e.name, e.payload)
        for e in Event.objects.filter(subject=f"payment:{payment_id}").order_by("pk")
    ]


def test_approving_an_authorize_only_hold_tells_the_storefront(
    primary, api, held_settings
):
    pid = _held(api, "create-a", capture=False)
    before = _events(pid)

    approved = services.payment_review_approve(
        payment=Payment.objects.get(public_id=pid), actor="staff"
    )

    assert (approved.status, approved.review_state) == ("authorized", "approved")
    new = _events(pid)[len(before) :]
    assert [name for name, _ in new] == ["payment.authorized"]
    payload = new[0][1]
    assert payload["review"] == "approved"
    assert (payload["payment_id"], payload["status"]) == (pid, "authorized")
    assert payload["amount_authorized"] == 2000 and payload["amount_captured"] == 0


def test_the_admin_review_queue_approval_tells_the_storefront(
    primary, api, held_settings, admin_client
):
    pid = _held(api, "create-b", capture=False)
    payment = Payment.objects.get(public_id=pid)
    before = len(_events(pid))

    response = admin_client.post(
        reverse("admin:payments_paymentreview_changelist"),
        {"action": "approve", "_selected_action": [payment.pk]},
    )

    assert response.status_code in (200, 302)
    payment.refresh_from_db()
    assert payment.review_state == "approved"
    assert [name for name, _ in _events(pid)[before:]] == ["payment.authorized"]


def test_a_second_approval_tells_nothing_more(primary, api, held_settings):
    pid = _held(api, "create-c", capture=False)
    services.payment_review_approve(
        payment=Payment.objects.get(public_id=pid), actor="staff"
    )
    count = len(_events(pid))

    with pytest.raises(services.PaymentError):
        services.payment_review_approve(
            payment=Payment.objects.get(public_id=pid), actor="staff"
        )

    assert len(_events(pid)) == count
