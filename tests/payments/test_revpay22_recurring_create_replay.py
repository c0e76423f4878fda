"""revpay22: a recurring charge's create replayed after its Idempotency-Key
record expired made a second recurring charge: the customer billed twice
every period. The charge keeps its key, as a payment does: the same
request gets it back, another is 422 ``idempotency_key_reused``."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from integrations.models import IdempotencyRecord
from payments import services
from payments.models import RecurringCharge
from payments.services import recurring_manage

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers/cus_1/recurring-charges/"


@pytest.fixture
def method(primary):
    return services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )


def body(method, **change) -> dict:
    return {
        "payment_method": method.public_id,
        "amount": 990,
        "currency": "EUR",
        "interval": "month",
        **change,
    }


def create(api, data: dict):
    return api.post(URL, data, format="json", HTTP_IDEMPOTENCY_KEY="k-sub")


def expire_records() -> None:
    past = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS + 1)
    IdempotencyRecord.objects.update(created_at=past)


def test_the_same_create_after_the_key_expired_gets_its_charge(api, method):
    first = create(api, body(method))
    assert first.status_code == 201, first.content
    expire_records()

    again = create(api, body(method))

    assert again.status_code == 201, again.content
    assert again.json()["id"] == first.json()["id"]
    assert RecurringCharge.objects.count() == 1


@pytest.mark.parametrize(
    "change",
    [{"amount": 1990}, {"interval": "year"}, {"description": "other plan"}],
    ids=["amount", "interval", "description"],
)
def test_another_create_under_an_expired_key_is_refused(api, method, change):
    assert create(api, body(method)).status_code == 201
    expire_records()

    again = create(api, body(method, **change))

    assert again.status_code == 422, again.content
    error = again.json()["error"]
    assert (error["code"], error["param"]) == (
        "idempotency_key_reused",
        "Idempotency-Key",
    )
    assert RecurringCharge.objects.count() == 1


def test_the_service_without_a_key_creates_each_time(method):
    def make(**extra):
        return recurring_manage.recurring_create(
            customer_reference="cus_1",
            method_id=method.public_id,
            amount=500,
            currency="EUR",
            interval="month",
            **extra,
        )

    assert make().pk != make().pk
    keyed = make(idempotency_key="svc-k")
    assert make(idempotency_key="svc-k").pk == keyed.pk
    with pytest.raises(services.KeyReused):
        recurring_manage.recurring_create(
            customer_reference="cus_1",
            method_id=method.public_id,
            amount=600,
            currency="EUR",
            interval="month",
            idempotency_key="svc-k",
        )
    assert RecurringCharge.objects.count() == 3
