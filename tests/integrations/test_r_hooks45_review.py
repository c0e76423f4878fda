"""r-hooks45: an outside review of hooks45 (replay history per event, the
command's account in the admin, the body-encoding refusal)."""

import codecs
import tracemalloc

import pytest
import responses
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.urls import reverse

from integrations.models import WebhookEvent, WebhookStatus
from tests.factories import ProviderAccountFactory
from tests.integrations.intake41_helpers import assert_refused_unstored
from tests.integrations.intake42_helpers import REFUND_EVENT, failed, post, run_replay
from tests.payments.contract import harness_braintree

pytestmark = pytest.mark.django_db

COMMAND_USER = "manage.py replay_webhooks"
BODY_BYTES = 1_000_000


def _dead_events(count: int) -> list[int]:
    """``count`` dead events of one account, each with a 1 MB body."""
    account = ProviderAccountFactory(slug="sbx-pay")
    row = failed(account, "msg_0")
    body = REFUND_EVENT[:-1] + b', "pad": "' + b"a" * BODY_BYTES + b'"}'
    WebhookEvent.objects.bulk_create(
        WebhookEvent(
            account=account,
            event_type=row.event_type,
            dedupe_key=f"msg_big_{i}",
            raw_body=body,
            headers=row.headers,
            payload=row.payload,
            status=WebhookStatus.DEAD,
            attempts=5,
        )
        for i in range(count)
    )
    return list(WebhookEvent.objects.values_list("pk", flat=True))


def test_a_large_replays_history_does_not_hold_every_body_in_memory():
    # A run may replay 100,000 rows of up to WEBHOOK_MAX_BYTES each: the
    # history needs each row's id and name, never its body.
    ids = _dead_events(40)
    tracemalloc.start()
    try:
        run_replay("--account", "sbx-pay", "--status", "dead")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert LogEntry.objects.count() == len(ids)
    assert peak < 10 * BODY_BYTES, f"{peak / 1e6:.0f} MB"


def _command_account():
    failed(ProviderAccountFactory(slug="sbx-one"), "msg_1")
    run_replay("--account", "sbx-one", "--status", "dead")
    return get_user_model().objects.get(username=COMMAND_USER)


def test_its_name_cannot_be_changed_from_the_admin_either(staff):
    # Renamed, it would be an ordinary account the admin deletes, and its
    # history with it (the next run would make a new one).
    user = _command_account()
    url = reverse("admin:auth_user_change", args=[user.pk])
    staff.post(
        url,
        {
            "username": "renamed",
            "first_name": "",
            "last_name": "",
            "email": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    user.refresh_from_db()
    assert user.username == COMMAND_USER
    page = staff.get(url).content.decode()
    assert "cannot be renamed" in page

    staff.post(reverse("admin:auth_user_delete", args=[user.pk]), {"post": "yes"})
    assert LogEntry.objects.filter(user=user).count() == 1


def test_a_braintree_form_in_another_encoding_is_not_called_json():
    # Braintree posts a form (bt_signature, bt_payload), not JSON.
    account = harness_braintree.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        hook = harness_braintree.webhook_valid(rsps, account)
    body = codecs.BOM_UTF8 + hook.body

    response = post(account, body)

    assert_refused_unstored(response, 400)
    error = response.json()["error"]
    assert error["code"] == "malformed_request"
    assert "JSON" not in error["message"]
    assert "form" in error["message"]
