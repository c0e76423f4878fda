"""Review of mail38: an event whose recipient or message id is JSON null (or
not a string at all) names nothing, exactly as one missing the field: it is
stored dead with its error, never read as the address or id "None" and
processed having applied nothing."""

import time
from typing import Any

import pytest
import responses
from django.test import Client

from integrations.models import ProviderAccount, WebhookEvent
from notifications.models import Suppression
from tests.notifications.contract import (
    harness_amazon_ses,
    harness_mailgun,
    harness_postmark,
    harness_sendgrid,
)

pytestmark = pytest.mark.django_db


def _post(account: ProviderAccount, hook: Any):
    return Client().post(
        f"/webhooks/{account.slug}/",
        data=hook.body,
        content_type=hook.headers.pop("Content-Type", "application/json"),
        headers=hook.headers,
    )


def _kept_dead(account: ProviderAccount, response) -> None:
    assert response.status_code == 200, response.content
    (row,) = WebhookEvent.objects.filter(account=account)
    assert (row.status, row.last_error) == ("dead", row.last_error)
    assert "names neither a message nor a recipient" in row.last_error
    assert not Suppression.objects.exists()


@pytest.mark.parametrize("missing", [None, 7, ["noreply@example.com"]])
def test_sendgrid_bounce_naming_null_or_no_string(
    missing, django_capture_on_commit_callbacks
) -> None:
    account = harness_sendgrid.make_account()
    bounce = harness_sendgrid.event(
        "bounce",
        email=missing,
        sg_message_id=missing,
        anymail_id=None,
        timestamp=int(time.time()),
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(account, harness_sendgrid.signed([bounce]))
    _kept_dead(account, response)


@pytest.mark.parametrize("missing", [None, 7, ["alice@example.com"]])
def test_mailgun_failure_naming_null_or_no_string(
    missing, django_capture_on_commit_callbacks
) -> None:
    account = harness_mailgun.make_account()
    data = harness_mailgun.event(
        "failed_permanent", recipient=missing, timestamp=time.time()
    )
    data["message"] = {"headers": {"message-id": missing}}
    data["user-variables"] = {"message_id": missing}
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(account, harness_mailgun.signed(data))
    _kept_dead(account, response)


@pytest.mark.parametrize("missing", [7, ["bounce@example.com"], {"a": 1}])
def test_postmark_bounce_naming_no_string(
    missing, django_capture_on_commit_callbacks
) -> None:
    account = harness_postmark.make_account()
    record = harness_postmark.event("bounce_hard", Email=missing, MessageID=missing)
    record["Metadata"] = {"message_id": missing}
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(account, harness_postmark.posted(record))
    _kept_dead(account, response)


@pytest.mark.parametrize("missing", [None, 7])
def test_ses_reject_naming_null_recipients(
    missing, django_capture_on_commit_callbacks
) -> None:
    account = harness_amazon_ses.make_account()
    ses = harness_amazon_ses.event("reject")
    ses["mail"]["destination"] = [missing]
    ses["mail"]["messageId"] = missing
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        hook = harness_amazon_ses.notification(rsps, ses)
        with django_capture_on_commit_callbacks(execute=True):
            response = _post(account, hook)
    assert response.status_code == 200, response.content
    (row,) = WebhookEvent.objects.filter(account=account)
    assert row.status == "dead"
    assert "names no recipient" in row.last_error


def test_postmark_bounce_without_type_that_deactivated_is_applied(
    django_capture_on_commit_callbacks,
) -> None:
    # docs/providers/email.md: dead only when it says nothing happened; one
    # saying Postmark deactivated the address is that stop.
    account = harness_postmark.make_account()
    record = harness_postmark.event("bounce_hard", Inactive=True)
    del record["Type"]
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(account, harness_postmark.posted(record))
    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.get(account=account).status == "processed"
    assert Suppression.objects.filter(address="bounce@example.com").exists()


def test_sendgrid_resubscribe_naming_no_address_is_dead(
    django_capture_on_commit_callbacks,
) -> None:
    # A reactivation is about the address whatever message it names: one
    # naming no address lifts nothing, so it is kept dead for staff.
    account = harness_sendgrid.make_account()
    event = harness_sendgrid.event("group_resubscribe", timestamp=int(time.time()))
    del event["email"]
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(account, harness_sendgrid.signed([event]))
    assert response.status_code == 200, response.content
    (row,) = WebhookEvent.objects.filter(account=account)
    assert row.status == "dead"
    assert "names no recipient" in row.last_error


def test_postmark_resubscribe_naming_no_address_is_dead(
    django_capture_on_commit_callbacks,
) -> None:
    account = harness_postmark.make_account()
    record = harness_postmark.event("resubscribe")
    del record["Recipient"]
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(account, harness_postmark.posted(record))
    assert response.status_code == 200, response.content
    (row,) = WebhookEvent.objects.filter(account=account)
    assert row.status == "dead"
    assert "names no recipient" in row.last_error
