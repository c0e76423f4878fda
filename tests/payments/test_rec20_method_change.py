"""A recurring charge stopped by declines (``failed``) continues on a new
card: the storefront moves it to another saved method of the same customer
(POST /api/v1/recurring-charges/<id>/payment-method/), which resumes it, or
resumes it as it is; refusals in the project's error shape."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.models import ProviderAccount
from payments import services
from payments.models import (
    Payment,
    RecurringCharge,
    RecurringStatus,
    SandboxCharge,
    SavedPaymentMethod,
)
from payments.services.recurring import recurring_charges_report
from payments.services.recurring_manage import recurring_method_change
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db


def save_method(customer: str, key: str, **extra) -> SavedPaymentMethod:
    return services.payment_method_save(
        customer_reference=customer,
        source_token="tok_success",
        idempotency_key=key,
        **extra,
    )


@pytest.fixture
def old(primary) -> SavedPaymentMethod:
    return save_method("cus_1", "m1")


@pytest.fixture
def new(old) -> SavedPaymentMethod:
    return save_method("cus_1", "m2", make_default=True)


def post(api, url: str, body: dict | None = None, key: str | None = None):
    return api.post(
        url, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex
    )


def error_of(response) -> tuple[str, str | None]:
    error = response.json()["error"]
    return error["code"], error["param"]


@pytest.fixture
def failed(api, old) -> RecurringCharge:
    """A monthly charge whose card declined at its first run (stopped), its
    next date passed weeks ago."""
    body = {
        "payment_method": old.public_id,
        "amount": 990,
        "currency": "EUR",
        "interval": "month",
    }
    response = post(api, "/api/v1/customers/cus_1/recurring-charges/", body)
    assert response.status_code == 201, response.content
    SandboxCharge.objects.filter(
        kind="method", reference=old.provider_method_id
    ).update(source_token="tok_decline")
    assert recurring_charges_report().declined == 1
    recurring = RecurringCharge.objects.get(public_id=response.json()["id"])
    assert recurring.status == RecurringStatus.FAILED
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        next_run_at=timezone.now() - timedelta(days=40)
    )
    recurring.refresh_from_db()
    return recurring


def change_url(recurring: RecurringCharge) -> str:
    return f"/api/v1/recurring-charges/{recurring.public_id}/payment-method/"


def test_a_new_method_resumes_a_failed_charge_on_it(api, failed, new, primary):
    before = timezone.now()

    response = post(api, change_url(failed), {"payment_method": new.public_id})

    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["status"], data["payment_method"]) == ("active", new.public_id)
    failed.refresh_from_db()
    assert failed.saved_method_id == new.pk
    # Restarted as a resume: the missed period is never back-charged.
    assert before <= failed.next_run_at <= timezone.now()
    assert recurring_charges_report().charged == 1
    assert recurring_charges_report().charged == 0
    paid = Payment.objects.filter(
        metadata__recurring_charge=failed.public_id, status="captured"
    )
    assert paid.count() == 1
    assert SandboxCharge.objects.filter(account=primary, kind="payment").count() == 1


def test_the_change_is_idempotent(api, failed, new):
    key = uuid.uuid4().hex
    body = {"payment_method": new.public_id}

    first = post(api, change_url(failed), body, key=key)
    again = post(api, change_url(failed), body, key=key)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()


def test_a_paused_charge_moves_and_stays_paused(api, failed, new):
    RecurringCharge.objects.filter(pk=failed.pk).update(status=RecurringStatus.PAUSED)

    response = post(api, change_url(failed), {"payment_method": new.public_id})

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "paused"
    assert response.json()["payment_method"] == new.public_id


def test_another_customers_method_is_a_400(api, failed, primary):
    theirs = save_method("cus_2", "m3")

    response = post(api, change_url(failed), {"payment_method": theirs.public_id})

    assert response.status_code == 400, response.content
    assert error_of(response) == ("payment_method_not_found", "payment_method")
    failed.refresh_from_db()
    assert failed.status == RecurringStatus.FAILED
    assert failed.saved_method.customer_reference == "cus_1"


def test_an_expired_method_is_a_400(api, failed, new):
    SavedPaymentMethod.objects.filter(pk=new.pk).update(exp_month=1, exp_year=2020)

    response = post(api, change_url(failed), {"payment_method": new.public_id})

    assert response.status_code == 400, response.content
    assert error_of(response) == ("payment_method_expired", "payment_method")
    failed.refresh_from_db()
    assert failed.status == RecurringStatus.FAILED


def test_a_method_at_an_account_this_deploy_cannot_call_is_a_400(
    api, failed, new, secondary
):
    SavedPaymentMethod.objects.filter(pk=new.pk).update(account=secondary)
    ProviderAccount.objects.filter(pk=secondary.pk).update(provider="retired")

    response = post(api, change_url(failed), {"payment_method": new.public_id})

    assert response.status_code == 400, response.content
    assert error_of(response) == ("payment_method_unusable", "payment_method")
    failed.refresh_from_db()
    assert failed.saved_method_id != new.pk


def test_a_cancelled_charge_is_a_409(api, failed, new):
    post(api, f"/api/v1/recurring-charges/{failed.public_id}/cancel/")

    response = post(api, change_url(failed), {"payment_method": new.public_id})

    assert response.status_code == 409, response.content
    assert error_of(response) == ("invalid_state", "status")
    failed.refresh_from_db()
    assert failed.saved_method_id != new.pk


def test_a_missing_method_field_is_a_400(api, failed):
    response = post(api, change_url(failed), {})

    assert response.status_code == 400
    assert error_of(response)[1] == "payment_method"


def test_an_unknown_charge_is_a_404(api, new):
    response = post(
        api,
        "/api/v1/recurring-charges/rc_nope/payment-method/",
        {"payment_method": new.public_id},
    )
    assert response.status_code == 404


def test_a_failed_charge_resumes_on_its_method(api, failed, old):
    SandboxCharge.objects.filter(
        kind="method", reference=old.provider_method_id
    ).update(source_token="tok_success")
    before = timezone.now()

    response = post(api, f"/api/v1/recurring-charges/{failed.public_id}/resume/")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "active"
    failed.refresh_from_db()
    assert before <= failed.next_run_at <= timezone.now()
    assert recurring_charges_report().charged == 1


def test_the_service_moves_and_resumes(failed, new):
    row = recurring_method_change(
        recurring=failed, method_id=new.public_id, actor="support"
    )
    assert (row.status, row.saved_method_id) == (RecurringStatus.ACTIVE, new.pk)


def test_the_schema_documents_the_change(api):
    schema = api.get("/api/schema/?format=json").json()
    path = "/api/v1/recurring-charges/{public_id}/payment-method/"
    operation = schema["paths"][path]["post"]
    assert operation["operationId"] == "recurring_charge_change_method"
    assert {"400", "404", "409"} <= set(operation["responses"])


def test_a_read_only_key_may_not_change_the_method(failed, new):
    reader = APIClient()
    key = ApiKeyFactory(scopes=["payments:read"])
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")

    response = post(reader, change_url(failed), {"payment_method": new.public_id})

    assert response.status_code == 403
    failed.refresh_from_db()
    assert failed.status == RecurringStatus.FAILED


def test_a_method_at_an_account_of_another_kind_is_a_400(api, failed, new):
    ProviderAccount.objects.filter(pk=new.account_id).update(kind="shipping")

    response = post(api, change_url(failed), {"payment_method": new.public_id})

    assert response.status_code == 400, response.content
    assert error_of(response) == ("payment_method_unusable", "payment_method")
