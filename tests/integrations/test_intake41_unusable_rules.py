"""intake41: what storing an unusable signed body keeps and what it does
not change. A second delivery of the same body adds no row; forged, stale
and unsigned requests stay refused and unstored; a usable event goes through
as before; the row shows in the admin like other failed events, keeps no
secret header, and a replay leaves it alone."""

import json
import time

import pytest
from django.urls import reverse

from integrations.models import WebhookEvent, WebhookStatus
from integrations.webhooks.verification import signed_headers
from tests.contract.sandbox import SECRET
from tests.factories import ProviderAccountFactory
from tests.integrations.intake41_helpers import (
    UNUSABLE,
    assert_refused_unstored,
    assert_stored_unusable,
    post,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def account():
    return ProviderAccountFactory(slug="sbx-pay")


def _signed(body: bytes, webhook_id: str = "msg_1", **changes) -> dict[str, str]:
    raw = signed_headers(
        secret=changes.pop("secret", SECRET),
        webhook_id=webhook_id,
        body=body,
        timestamp=changes.pop("timestamp", int(time.time())),
    )
    return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in raw.items()}


def test_the_same_unusable_body_twice_is_one_row(account):
    body = b"[1, 2]"
    assert_stored_unusable(account, post(account, body, **_signed(body)), body)

    again = post(account, body, **_signed(body, webhook_id="msg_2"))

    assert again.status_code == 200
    assert again.json() == {"received": True, "duplicate": True, "processed": False}
    assert WebhookEvent.objects.count() == 1


def test_two_different_unusable_bodies_are_two_rows(account):
    for body in (b"[1]", b"[2]"):
        post(account, body, **_signed(body))
    assert WebhookEvent.objects.filter(event_type=UNUSABLE).count() == 2


def test_the_row_keeps_the_error_code_and_the_field(account):
    body = b'{"data": {}}'
    post(account, body, **_signed(body))
    row = WebhookEvent.objects.get()
    assert "[malformed_request, type]" in row.last_error
    assert "has no 'type'" in row.last_error
    # No event was read: the payload names only the account that received it
    # (intake42: a replay reads the body again only for the same provider).
    assert row.payload == {"received_by": {"kind": "payments", "provider": "sandbox"}}


@pytest.mark.parametrize(
    "headers",
    [
        lambda body: _signed(body, secret="whsec_b3RoZXJzZWNyZXQ="),
        lambda body: _signed(body, timestamp=int(time.time()) - 3600),
        lambda body: {},
    ],
    ids=["forged", "stale", "unsigned"],
)
def test_an_unusable_body_not_verified_is_still_refused_unstored(account, headers):
    body = b"[1, 2]"
    response = post(account, body, **headers(body))
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["code"] in (
        "invalid_signature",
        "timestamp_out_of_tolerance",
        "missing_header",
    )
    assert_refused_unstored(response, response.status_code)


def test_a_usable_event_is_stored_and_processed_as_before(
    account, django_capture_on_commit_callbacks
):
    body = json.dumps(
        {"type": "refund.updated", "timestamp": "2025-01-02T03:04:05Z", "data": {}}
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(account, body, **_signed(body, webhook_id="msg_ok"))
    assert response.json() == {"received": True, "duplicate": False}
    row = WebhookEvent.objects.get()
    assert (row.event_type, row.dedupe_key) == ("refund.updated", "msg_ok")
    assert row.status == WebhookStatus.PROCESSED


def test_the_row_keeps_no_secret_header(account):
    body = b"42"
    post(account, body, HTTP_AUTHORIZATION="Bearer sk_live_x", **_signed(body))
    headers = WebhookEvent.objects.get().headers
    assert "authorization" not in headers
    assert "webhook-signature" not in headers
    assert "webhook-id" in headers


def test_an_unusable_body_is_never_processed(
    account, django_capture_on_commit_callbacks
):
    body = b"not json"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        post(account, body, **_signed(body))
    assert callbacks == []
    assert WebhookEvent.objects.get().status == WebhookStatus.DEAD


def test_staff_see_it_with_the_failed_events_and_a_replay_skips_it(account, staff):
    body = b'[{"id": "evt_1"}]'
    post(account, body, **_signed(body))
    row = WebhookEvent.objects.get()
    listing = staff.get(
        reverse("admin:integrations_webhookevent_changelist"), {"status__exact": "dead"}
    )
    assert UNUSABLE in listing.content.decode()
    page = staff.get(
        reverse("admin:integrations_webhookevent_change", args=[row.pk])
    ).content.decode()
    assert "malformed_request" in page
    assert "evt_1" in page  # the body as received

    replay = staff.post(
        reverse("admin:integrations_webhookevent_replay", args=[row.pk]), follow=True
    )

    text = replay.content.decode()
    # intake43: an unusable row alone queues nothing; the summary says what
    # became of it, not "0 webhook event(s) queued".
    assert "0 webhook event(s) queued" not in text
    assert "Unusable bodies read again: 0 recovered, 1 still unreadable" in text
    # intake42: replay reads the body again; still unusable, it stays dead.
    assert "Still unusable, left dead" in text
    row.refresh_from_db()
    assert (row.status, row.last_error) == (WebhookStatus.DEAD, row.last_error)
    assert "cannot be used" in row.last_error
