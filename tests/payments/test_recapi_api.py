"""Recurring charges through the storefront API: create on a saved method,
list, read, pause, resume, cancel; the refusals in the project's error shape."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import RecurringCharge, RecurringStatus, SavedPaymentMethod
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import charges, payments_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def method(primary) -> SavedPaymentMethod:
    return services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )


def post(api, url: str, body: dict | None = None, key: str | None = None):
    return api.post(
        url,
        body or {},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex,
    )


def create(api, method, **overrides):
    body = {
        "payment_method": method.public_id,
        "amount": 990,
        "currency": "eur",
        "interval": "month",
        "description": "Coffee club",
        **overrides,
    }
    return post(api, "/api/v1/customers/cus_1/recurring-charges/", body)


def error_of(response) -> tuple[str, str | None]:
    error = response.json()["error"]
    return error["code"], error["param"]


def test_create_list_and_read(api, method):
    response = create(api, method)

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "active"
    assert (data["amount"], data["currency"]) == (990, "EUR")
    assert data["payment_method"] == method.public_id
    assert data["customer_reference"] == "cus_1"
    assert data["last_payment"] is None
    listed = api.get("/api/v1/customers/cus_1/recurring-charges/").json()
    assert [r["id"] for r in listed["results"]] == [data["id"]]
    assert api.get("/api/v1/customers/cus_2/recurring-charges/").json()["results"] == []
    assert api.get(f"/api/v1/recurring-charges/{data['id']}/").json() == data


def test_created_charge_is_run_now_and_read_back(api, method, primary):
    data = create(api, method).json()

    assert recurring_charges_report().charged == 1

    read = api.get(f"/api/v1/recurring-charges/{data['id']}/").json()
    (payment,) = payments_of(RecurringCharge.objects.get(public_id=data["id"]))
    assert read["last_payment"] == payment.public_id
    assert read["runs"] == 1


def test_create_replays_under_the_same_key(api, method):
    body = {
        "payment_method": method.public_id,
        "amount": 990,
        "currency": "EUR",
        "interval": "week",
    }
    url = "/api/v1/customers/cus_1/recurring-charges/"
    first = post(api, url, body, key="k-rec")
    again = post(api, url, body, key="k-rec")

    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert RecurringCharge.objects.count() == 1


def test_create_needs_an_idempotency_key(api, method):
    response = api.post(
        "/api/v1/customers/cus_1/recurring-charges/",
        {
            "payment_method": method.public_id,
            "amount": 1,
            "currency": "EUR",
            "interval": "month",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "idempotency" in response.json()["error"]["code"]
    assert RecurringCharge.objects.count() == 0


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": 100_000_000}, "amount"),
        ({"amount": "9.90"}, "amount"),
        ({"currency": "XXZ"}, "currency"),
        ({"interval": "fortnight"}, "interval"),
        ({"interval_count": 0}, "interval_count"),
        ({"interval": "month", "interval_count": 13}, "interval_count"),
        ({"interval": "year", "interval_count": 2}, "interval_count"),
        ({"first_run_at": "tomorrow"}, "first_run_at"),
        ({"description": "x" * 256}, "description"),
    ],
)
def test_bad_input_is_a_400(api, method, overrides, param):
    response = create(api, method, **overrides)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param
    assert RecurringCharge.objects.count() == 0


def test_amount_bound_follows_the_currency(api, method):
    # IDR allows twelve digits, as for a payment.
    assert create(api, method, currency="IDR", amount=100_000_000).status_code == 201


def test_first_run_in_the_past_is_refused_beyond_a_small_tolerance(api, method):
    past = timezone.now() - timedelta(hours=1)
    response = create(api, method, first_run_at=past.isoformat())

    assert response.status_code == 400
    assert error_of(response) == ("first_run_in_past", "first_run_at")
    near = timezone.now() - timedelta(seconds=30)
    assert create(api, method, first_run_at=near.isoformat()).status_code == 201


def test_first_run_later(api, method, primary):
    later = timezone.now() + timedelta(days=3)
    data = create(api, method, first_run_at=later.isoformat()).json()

    assert data["next_run_at"].startswith(later.strftime("%Y-%m-%dT%H:%M"))
    assert recurring_charges_report().charged == 0
    assert charges(primary) == 0


def test_another_customers_method_is_a_404(api, primary):
    theirs = services.payment_method_save(
        customer_reference="cus_2", source_token="tok_success", idempotency_key="m2"
    )
    response = create(api, theirs)

    assert response.status_code == 404
    assert error_of(response) == ("payment_method_not_found", "payment_method")
    assert response.json()["error"]["type"] == "not_found_error"
    assert create(api, theirs, payment_method="pm_nope").status_code == 404
    assert RecurringCharge.objects.count() == 0


def test_an_expired_method_is_a_400(api, method):
    last_year = timezone.now().year - 1
    SavedPaymentMethod.objects.filter(pk=method.pk).update(
        exp_month=12, exp_year=last_year
    )
    response = create(api, method)

    assert response.status_code == 400
    assert error_of(response) == ("payment_method_expired", "payment_method")
    assert RecurringCharge.objects.count() == 0


def test_a_method_expiring_before_the_first_run_is_a_400(api, method):
    now = timezone.now()
    SavedPaymentMethod.objects.filter(pk=method.pk).update(
        exp_month=now.month, exp_year=now.year
    )
    next_year = (now + timedelta(days=400)).isoformat()
    response = create(api, method, first_run_at=next_year)

    assert response.status_code == 400
    assert error_of(response)[0] == "payment_method_expired"
    # Valid through its expiry month.
    assert create(api, method).status_code == 201


def test_a_method_of_a_disabled_account_is_a_400(api, method, primary):
    primary.enabled = False
    primary.save()
    response = create(api, method)

    assert response.status_code == 400
    assert error_of(response) == ("payment_method_unusable", "payment_method")


def test_scopes(db, method):
    from rest_framework.test import APIClient

    from tests.factories import ApiKeyFactory

    client = APIClient()
    key = ApiKeyFactory(scopes=["payments:read"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    assert client.get("/api/v1/customers/cus_1/recurring-charges/").status_code == 200
    response = create(client, method)
    assert response.status_code == 403
    assert RecurringCharge.objects.count() == 0


def test_unknown_charge_is_a_404(api):
    assert api.get("/api/v1/recurring-charges/rec_nope/").status_code == 404
    assert post(api, "/api/v1/recurring-charges/rec_nope/pause/").status_code == 404


def test_pause_resume_cancel(api, method, primary):
    rec_id = create(api, method).json()["id"]
    url = f"/api/v1/recurring-charges/{rec_id}"

    paused = post(api, f"{url}/pause/")
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    assert recurring_charges_report().charged == 0  # paused: not charged
    assert post(api, f"{url}/pause/").status_code == 409

    resumed = post(api, f"{url}/resume/")
    assert resumed.status_code == 200
    assert resumed.json()["status"] == "active"
    assert post(api, f"{url}/resume/").status_code == 409

    cancelled = post(api, f"{url}/cancel/")
    assert cancelled.json()["status"] == "cancelled"
    for verb in ("pause", "resume", "cancel"):
        response = post(api, f"{url}/{verb}/")
        assert response.status_code == 409
        assert error_of(response) == ("invalid_state", "status")
        assert response.json()["error"]["type"] == "conflict_error"
    assert recurring_charges_report().charged == 0
    assert charges(primary) == 0


def test_resume_skips_missed_periods_and_never_charges_one_twice(api, method, primary):
    # Missed periods are not back-charged; the one the resume begins is,
    # once (tests/payments/test_revrecapi_resume.py).
    rec_id = create(api, method, interval="week").json()["id"]
    assert recurring_charges_report().charged == 1
    recurring = RecurringCharge.objects.get(public_id=rec_id)
    first_slot = recurring.next_run_at - timedelta(weeks=1)
    post(api, f"/api/v1/recurring-charges/{rec_id}/pause/")
    # Three weeks pass while paused: its next slot is in the past.
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        next_run_at=timezone.now() - timedelta(weeks=2, hours=1)
    )
    before = RecurringCharge.objects.get(pk=recurring.pk).next_run_at

    data = post(api, f"/api/v1/recurring-charges/{rec_id}/resume/").json()

    recurring.refresh_from_db()
    assert before < recurring.next_run_at <= timezone.now()
    assert data["next_run_at"].startswith(f"{recurring.next_run_at:%Y-%m-%dT%H:%M}")
    assert recurring_charges_report().charged == 1  # the resumed period only
    assert recurring_charges_report().charged == 0  # nothing back-charged
    assert charges(primary) == 2
    assert recurring.next_run_at > first_slot


def test_resume_before_the_next_period_keeps_its_date(api, method, primary):
    rec_id = create(api, method).json()["id"]
    assert recurring_charges_report().charged == 1
    due = RecurringCharge.objects.get(public_id=rec_id).next_run_at
    post(api, f"/api/v1/recurring-charges/{rec_id}/pause/")

    post(api, f"/api/v1/recurring-charges/{rec_id}/resume/")

    recurring = RecurringCharge.objects.get(public_id=rec_id)
    assert recurring.next_run_at == due
    assert recurring_charges_report().charged == 0
    assert charges(primary) == 1


def test_resume_with_an_expired_method_is_a_400(api, method):
    rec_id = create(api, method).json()["id"]
    post(api, f"/api/v1/recurring-charges/{rec_id}/pause/")
    SavedPaymentMethod.objects.filter(pk=method.pk).update(
        exp_month=1, exp_year=timezone.now().year - 1
    )

    response = post(api, f"/api/v1/recurring-charges/{rec_id}/resume/")

    assert response.status_code == 400
    assert error_of(response)[0] == "payment_method_expired"
    assert RecurringCharge.objects.get(public_id=rec_id).status == "paused"


def test_a_failed_charge_can_be_resumed_or_cancelled(api, method):
    rec_id = create(api, method).json()["id"]
    failed = RecurringCharge.objects.filter(public_id=rec_id)
    failed.update(status=RecurringStatus.FAILED)
    resumed = post(api, f"/api/v1/recurring-charges/{rec_id}/resume/")
    assert resumed.json()["status"] == "active"
    failed.update(status=RecurringStatus.FAILED)
    cancelled = post(api, f"/api/v1/recurring-charges/{rec_id}/cancel/")
    assert cancelled.json()["status"] == "cancelled"
    assert post(api, f"/api/v1/recurring-charges/{rec_id}/resume/").status_code == 409


def test_the_schema_documents_the_endpoints(api):
    schema = api.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    create_op = paths["/api/v1/customers/{customer_reference}/recurring-charges/"]
    assert "examples" in str(create_op["post"])
    for verb in ("pause", "resume", "cancel"):
        operation = paths[f"/api/v1/recurring-charges/{{public_id}}/{verb}/"]["post"]
        assert "409" in operation["responses"]
    assert "/api/v1/recurring-charges/{public_id}/" in paths


def test_a_customer_reference_longer_than_a_methods_is_a_400(api, method):
    response = post(
        api,
        f"/api/v1/customers/{'c' * 129}/recurring-charges/",
        {"payment_method": method.public_id, "amount": 1, "currency": "EUR"},
    )

    assert response.status_code == 400
    assert error_of(response) == ("max_length", "customer_reference")
