"""A SendGrid Event Webhook batch with a malformed event in it: the good
events are stored and applied, the bad one is stored too and fails with its
error (staff see it among failed webhooks), and the batch is answered 2xx,
so SendGrid does not retry the whole batch for up to a day (its Event
Webhook troubleshooting page: any non-2xx is retried). The signature still
covers the whole body: a forged batch stores nothing."""

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.urls import reverse

from integrations.models import ProviderAccount, WebhookEvent, WebhookStatus
from notifications.models import Suppression
from tests.notifications.contract.harness_sendgrid import event
from tests.notifications.sendgrid_hooks import (
    processed_rows,
    sendgrid_account,  # noqa: F401 (the ``sendgrid`` fixture)
    signed_post,
)

pytestmark = pytest.mark.django_db


def _process_all(account: ProviderAccount) -> dict[str, WebhookEvent]:
    return {row.dedupe_key: row for row in processed_rows(account)}


def _no_event_id() -> dict:
    broken = event("bounce")
    del broken["sg_event_id"]
    return broken


def test_a_malformed_event_does_not_refuse_the_good_ones(sendgrid) -> None:
    good = event("spamreport")
    response = signed_post(sendgrid, [good, _no_event_id()])
    assert response.status_code == 200
    rows = _process_all(sendgrid)
    applied = rows.pop(good["sg_event_id"])
    assert applied.status == WebhookStatus.PROCESSED
    # The complaint of the good event is applied: its address is suppressed.
    assert Suppression.objects.get().address == good["email"]
    (bad,) = rows.values()
    assert bad.status == WebhookStatus.DEAD
    assert "sg_event_id" in bad.last_error
    assert bad.payload["malformed_event"]["event"] == "bounce"


def test_a_malformed_event_is_not_applied(sendgrid) -> None:
    # A bounce we cannot key is recorded for staff, never half-applied.
    signed_post(sendgrid, [event("delivered"), _no_event_id()])
    _process_all(sendgrid)
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        (7, "not a JSON object"),
        ({"sg_event_id": "abc", "email": "a@example.com"}, "'event'"),
        ({"event": "", "sg_event_id": "abc"}, "'event'"),
    ],
)
def test_each_kind_of_malformed_event_is_stored_with_its_error(
    sendgrid, bad, said
) -> None:
    response = signed_post(sendgrid, [event("delivered"), bad])
    assert response.status_code == 200
    assert response.json()["stored"] == 2
    rows = _process_all(sendgrid)
    (failed,) = [r for r in rows.values() if r.status != WebhookStatus.PROCESSED]
    assert failed.status == WebhookStatus.DEAD
    assert said in failed.last_error


def test_a_redelivered_batch_stores_its_malformed_event_once(sendgrid) -> None:
    batch = [event("delivered"), _no_event_id()]
    signed_post(sendgrid, batch)
    response = signed_post(sendgrid, batch)
    assert response.status_code == 200
    assert (response.json()["stored"], response.json()["duplicates"]) == (0, 2)
    assert WebhookEvent.objects.filter(account=sendgrid).count() == 2


def test_a_batch_of_one_malformed_event_is_recorded(sendgrid) -> None:
    response = signed_post(sendgrid, [_no_event_id()])
    assert response.status_code == 200
    (row,) = _process_all(sendgrid).values()
    assert row.status == WebhookStatus.DEAD


def test_a_forged_batch_with_a_malformed_event_stores_nothing(sendgrid) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    response = signed_post(sendgrid, [event("delivered"), _no_event_id()], key=other)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("body", [{"event": "delivered"}, "not events"])
def test_a_body_that_is_not_an_array_is_stored_dead(sendgrid, body) -> None:
    # intake41: it was a 400 storing nothing, which SendGrid retried for a
    # day; signed, it is kept whole, dead with its error, and answered 200.
    response = signed_post(sendgrid, body)
    assert response.status_code == 200, response.content
    row = WebhookEvent.objects.get()
    assert (row.event_type, row.status) == ("(unusable body)", WebhookStatus.DEAD)
    assert "malformed_request" in row.last_error


def test_staff_find_the_malformed_event_among_dead_webhooks(
    sendgrid, client, django_user_model
) -> None:
    signed_post(sendgrid, [event("delivered"), _no_event_id()])
    _process_all(sendgrid)
    staff = django_user_model.objects.create_superuser("staff", "s@example.com", "pw")
    client.force_login(staff)
    changelist = reverse("admin:integrations_webhookevent_changelist")
    page = client.get(changelist, {"status__exact": "dead"})
    assert page.status_code == 200
    (row,) = page.context["cl"].result_list
    assert row.event_type == "malformed"
    detail = client.get(
        reverse("admin:integrations_webhookevent_change", args=[row.pk])
    )
    assert "has no &#x27;sg_event_id&#x27;" in detail.content.decode()
