"""POST /api/v1/recurring-charges/<id>/payment-method/ under hostile input:
each a 4xx in the project's error shape, the charge unchanged; a replayed
key answers the same, the same key with another body 422."""

import uuid

import pytest

from payments import services
from payments.models import RecurringCharge, SavedPaymentMethod
from tests.payments.recurring_setup import (
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def new(recurring) -> SavedPaymentMethod:
    return services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m2"
    )


def url(recurring: RecurringCharge) -> str:
    return f"/api/v1/recurring-charges/{recurring.public_id}/payment-method/"


def post(api, path: str, body, key: str | None = None):
    return api.post(
        path, body, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex
    )


@pytest.mark.parametrize(
    "body",
    [
        {"payment_method": "pm_\x00x"},
        {"payment_method": "x" * 5000},
        {"payment_method": None},
        {"payment_method": ["pm_1"]},
        {"payment_method": {"id": "pm_1"}},
        {"payment_method": True},
        {"payment_method": 10**40},
        ["pm_1"],
    ],
)
def test_a_bad_body_is_a_400_in_the_error_shape(api, recurring, new, body):
    response = post(api, url(recurring), body)

    assert response.status_code == 400, response.content
    assert set(response.json()["error"]) == {"type", "code", "message", "param"}
    recurring.refresh_from_db()
    assert recurring.saved_method_id != new.pk


def test_a_nul_or_huge_charge_id_is_a_4xx(api, recurring, new):
    body = {"payment_method": new.public_id}
    for path in (
        "/api/v1/recurring-charges/rc_%00x/payment-method/",
        f"/api/v1/recurring-charges/{'x' * 5000}/payment-method/",
    ):
        response = post(api, path, body)
        assert response.status_code in (400, 404), response.content
        assert "error" in response.json()


def test_the_same_key_replays_and_another_body_is_a_422(api, recurring, new):
    key = uuid.uuid4().hex
    first = post(api, url(recurring), {"payment_method": new.public_id}, key)
    again = post(api, url(recurring), {"payment_method": new.public_id}, key)
    other = post(api, url(recurring), {"payment_method": "pm_other"}, key)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
