"""pay23: resumes after soft declines were unlimited; card networks cap
retries of one charge on one card (Visa: 15 in 30 days). After
``RECURRING_SOFT_DECLINE_RETRY_LIMIT`` retries (declines after the first)
of one recurring charge on one method within 30 days, a resume (API, admin)
or a move back to that method answers 400 ``payment_method_retries_exhausted``
(a ``payment_method_declined`` kind), nothing charged; another method
resumes it. Declines older than the window no longer count."""

import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.utils import timezone

from payments import services
from payments.models import Payment, RecurringStatus, SandboxCharge
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    clerk_resumes,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


def test_the_default_is_the_networks_cap():
    assert settings.RECURRING_SOFT_DECLINE_RETRY_LIMIT == 15


def post(api, url: str, body: dict | None = None):
    return api.post(
        url, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
    )


def resume(api, recurring):
    return post(api, f"/api/v1/recurring-charges/{recurring.public_id}/resume/")


def declines(api, recurring, retries: int) -> None:
    """The first decline, then ``retries`` resumes each declined again."""
    SandboxCharge.objects.filter(
        kind="method", reference=recurring.saved_method.provider_method_id
    ).update(source_token="tok_insufficient_funds")
    assert recurring_charges_report().declined == 1
    for _ in range(retries):
        response = resume(api, recurring)
        assert response.status_code == 200, response.content
        assert recurring_charges_report().declined == 1
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED


@pytest.fixture
def limit(settings):
    settings.RECURRING_SOFT_DECLINE_RETRY_LIMIT = 2
    return 2


def test_resumes_stop_at_the_limit(api, primary, recurring, limit):
    declines(api, recurring, limit)
    before = charges(primary)

    response = resume(api, recurring)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (
        "payment_method_retries_exhausted",
        "payment_method",
    )
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert charges(primary) == before
    assert recurring_charges_report().charged == 0


def test_a_move_back_to_the_same_method_is_refused_another_resumes(
    api, primary, recurring, limit
):
    declines(api, recurring, limit)
    url = f"/api/v1/recurring-charges/{recurring.public_id}/payment-method/"

    same = post(api, url, {"payment_method": recurring.saved_method.public_id})
    assert same.status_code == 400, same.content
    assert same.json()["error"]["code"] == "payment_method_retries_exhausted"

    other = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m2"
    )
    moved = post(api, url, {"payment_method": other.public_id})
    assert moved.status_code == 200, moved.content
    assert recurring_charges_report().charged == 1


def test_declines_older_than_the_window_do_not_count(api, primary, recurring, limit):
    declines(api, recurring, limit)
    Payment.objects.filter(pk__in=[p.pk for p in payments_of(recurring)]).update(
        created_at=timezone.now() - timedelta(days=31)
    )

    response = resume(api, recurring)

    assert response.status_code == 200, response.content


def test_below_the_limit_resumes(api, primary, recurring, limit):
    declines(api, recurring, limit - 1)

    assert resume(api, recurring).status_code == 200


def test_the_admin_resume_is_refused_too(
    django_user_model, api, primary, recurring, limit
):
    declines(api, recurring, limit)

    response = clerk_resumes(django_user_model, recurring)

    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(
        m.startswith(f"{recurring.public_id}: ") and "another payment method" in m
        for m in shown
    ), shown
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED


def test_the_schema_names_the_code():
    from rest_framework.test import APIClient

    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    for path in (
        "/api/v1/recurring-charges/{public_id}/resume/",
        "/api/v1/recurring-charges/{public_id}/payment-method/",
    ):
        post_op = schema["paths"][path]["post"]
        text = post_op["description"] + post_op.get("summary", "")
        assert "payment_method_retries_exhausted" in text, path
