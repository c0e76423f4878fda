"""A saved method whose gateway account this deploy cannot call (its
provider dropped from the adapters, a bad adapter path) is refused when a
recurring charge is created on it: a 400, not a charge failing at each run."""

import uuid

import pytest
from django.test import override_settings

from integrations import registry
from integrations.models import ProviderAccount
from payments import services
from payments.models import RecurringCharge, SavedPaymentMethod
from payments.services.recurring_manage import MethodUnusable, recurring_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def method(primary) -> SavedPaymentMethod:
    return services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )


def _create(api, method):
    body = {
        "payment_method": method.public_id,
        "amount": 990,
        "currency": "EUR",
        "interval": "month",
    }
    return api.post(
        "/api/v1/customers/cus_1/recurring-charges/",
        body,
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def test_create_on_a_retired_provider_is_a_400(api, method, primary):
    ProviderAccount.objects.filter(pk=primary.pk).update(provider="retired")

    response = _create(api, method)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (
        "payment_method_unusable",
        "payment_method",
    )
    assert "cannot be used" in error["message"]
    assert not RecurringCharge.objects.exists()


def test_create_on_a_bad_adapter_path_is_refused_by_the_service(method, primary):
    adapters = {"payments": {"sandbox": "payments.providers.nowhere.Adapter"}}
    registry.clear_cache()
    with (
        override_settings(SWITCHYARD_ADAPTERS=adapters),
        pytest.raises(MethodUnusable) as refused,
    ):
        recurring_create(
            customer_reference="cus_1",
            method_id=method.public_id,
            amount=990,
            currency="EUR",
            interval="month",
        )
    registry.clear_cache()
    assert refused.value.code == "payment_method_unusable"
    # The adapter path (configuration) is not told to the caller.
    assert "nowhere" not in refused.value.message
    assert not RecurringCharge.objects.exists()
