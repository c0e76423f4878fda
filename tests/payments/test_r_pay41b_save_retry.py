"""r-pay41b: a Stripe card's saved id is the one-time PaymentMethod id it was
saved from (``pm_...``, attached to the customer). The save path's refusal
of a stored saved-method id (pay41b) must not refuse the retry of a save
that went through: the same Idempotency-Key after its record went stale (a
worker killed before the answer was recorded, or the key's record expired)
reaches the view again, and the service answers it with the method that key
saved, no gateway call. It was a 400 invalid_source_token: the client told
its card is no token while the card was saved."""

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import responses
from django.conf import settings
from django.utils import timezone

from integrations.models import IdempotencyRecord
from payments.models import SavedPaymentMethod
from tests.payments.conftest import stripe_test_account

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
STRIPE = "https://api.stripe.com"
PM = "pm_1Pgc75B7WZ01zgkWlHVgdEGJ"  # the fixture's PaymentMethod id
URL = "/api/v1/customers/cus-r41b/payment-methods/"


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def stripe_account():
    return stripe_test_account(
        "stripe-r41b", "sk_test_51RPay41bKey000000000000000000000", "whsec_r41b"
    )


def _save(api, key: str, token: str = PM):
    return api.post(
        URL, {"source_token": token}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )


def _saved_once(api, key: str) -> dict:
    body = dict(_load("stripe/payment_method.json"), customer="cus_QXg1")
    with responses.RequestsMock() as gateway:
        gateway.post(f"{STRIPE}/v1/customers", json=_load("stripe/customer.json"))
        gateway.post(f"{STRIPE}/v1/payment_methods/{PM}/attach", json=body)
        first = _save(api, key)
    assert first.status_code == 201, first.json()
    assert SavedPaymentMethod.objects.get().provider_method_id == PM
    return first.json()


def _retried(api, key: str):
    # No gateway call may go out: the service answers from the key's method.
    with responses.RequestsMock():
        return _save(api, key)


def test_a_save_retried_after_its_worker_died_answers_with_its_method(
    api, stripe_account
):
    key = uuid.uuid4().hex
    first = _saved_once(api, key)
    # The worker died after the method was stored, before the answer was.
    timeout = settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS
    IdempotencyRecord.objects.update(
        state=IdempotencyRecord.State.IN_FLIGHT,
        response_status=None,
        response_body=None,
        created_at=timezone.now() - timedelta(seconds=timeout + 5),
    )

    again = _retried(api, key)

    assert again.status_code == 201, again.json()
    assert again.json()["id"] == first["id"]
    assert SavedPaymentMethod.objects.count() == 1


def test_a_save_retried_after_its_key_expired_answers_with_its_method(
    api, stripe_account
):
    key = uuid.uuid4().hex
    first = _saved_once(api, key)
    ttl = settings.IDEMPOTENCY_KEY_TTL_HOURS
    IdempotencyRecord.objects.update(
        created_at=timezone.now() - timedelta(hours=ttl + 1)
    )

    again = _retried(api, key)

    assert again.status_code == 201, again.json()
    assert again.json()["id"] == first["id"]


def test_another_key_with_that_stored_id_is_still_refused(api, stripe_account):
    _saved_once(api, uuid.uuid4().hex)

    response = _retried(api, uuid.uuid4().hex)

    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "invalid_source_token"
