"""SendGrid's signed Event Webhook through the intake (/webhooks/<slug>/):
one request, many events, each stored once by its sg_event_id; forged, stale
and malformed requests refused with nothing stored (a malformed event in a
good batch is recorded on its own); every event type
normalised. Events: tests/fixtures/sendgrid/events.json (README there)."""

import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client

from integrations.models import ProviderAccount, WebhookEvent
from integrations.registry import get_adapter
from integrations.webhooks.messages import WebhookMessage
from notifications.providers.base import BounceType, EmailEventType
from notifications.providers.sendgrid_signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness_sendgrid import event
from tests.notifications.sendgrid_hooks import (  # noqa: F401 (the ``sendgrid`` fixture)
    sendgrid_account,
)
from tests.notifications.signing_keys import sendgrid_sign

pytestmark = pytest.mark.django_db


def post(
    account: ProviderAccount,
    events: Any,
    *,
    timestamp: int | None = None,
    signature: str | None = None,
    drop: tuple[str, ...] = (),
):
    body = json.dumps(events).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: signature or sendgrid_sign(body, stamp),
    }
    for name in drop:
        headers.pop(name)
    return Client().post(
        f"/webhooks/{account.slug}/",
        data=body,
        content_type="application/json",
        headers=headers,
    )


def stored(account: ProviderAccount) -> list[tuple[str, str]]:
    rows = WebhookEvent.objects.filter(account=account).order_by("dedupe_key")
    return [(row.dedupe_key, row.event_type) for row in rows]


def test_one_request_stores_each_event_once(sendgrid) -> None:
    names = ("delivered", "open", "click", "bounce", "spamreport")
    response = post(sendgrid, [event(n) for n in names])
    assert response.status_code == 200
    assert response.json() == {
        "received": True,
        "messages": 5,
        "stored": 5,
        "duplicates": 0,
    }
    assert stored(sendgrid) == sorted(
        (event(n)["sg_event_id"], event(n)["event"]) for n in names
    )


def test_redelivered_request_stores_nothing_new(sendgrid) -> None:
    events = [event("delivered"), event("open")]
    post(sendgrid, events)
    response = post(sendgrid, events)
    assert response.json()["stored"] == 0
    assert response.json()["duplicates"] == 2
    assert len(stored(sendgrid)) == 2


def test_overlapping_batch_stores_only_the_new_event(sendgrid) -> None:
    post(sendgrid, [event("delivered"), event("open")])
    response = post(sendgrid, [event("open"), event("click"), event("delivered")])
    assert (response.json()["stored"], response.json()["duplicates"]) == (1, 2)
    assert len(stored(sendgrid)) == 3


def test_same_event_twice_in_one_request_is_stored_once(sendgrid) -> None:
    response = post(sendgrid, [event("delivered"), event("delivered")])
    assert response.status_code == 200
    assert stored(sendgrid) == [(event("delivered")["sg_event_id"], "delivered")]


def test_single_event_array_takes_the_single_event_path(sendgrid) -> None:
    response = post(sendgrid, [event("bounce")])
    assert response.json() == {"received": True, "duplicate": False}
    assert stored(sendgrid) == [(event("bounce")["sg_event_id"], "bounce")]


def test_signature_headers_are_not_stored(sendgrid) -> None:
    post(sendgrid, [event("delivered"), event("open")])
    for row in WebhookEvent.objects.filter(account=sendgrid):
        assert SIGNATURE_HEADER.lower() not in row.headers


def test_one_malformed_event_does_not_refuse_the_request(sendgrid) -> None:
    # Refusing it made SendGrid retry the whole batch for a day: the good
    # event is stored, the bad one recorded (test_mail2_sendgrid_batch.py).
    broken = event("open")
    del broken["sg_event_id"]
    response = post(sendgrid, [event("delivered"), broken])
    assert response.status_code == 200
    assert response.json()["stored"] == 2
    assert (event("delivered")["sg_event_id"], "delivered") in stored(sendgrid)


@pytest.mark.parametrize("body", [{"event": "delivered"}, "[]x"])
def test_body_that_is_not_an_array_of_events_is_stored_dead(sendgrid, body) -> None:
    # intake41: it was a 400 storing nothing, which SendGrid retried for a
    # day; signed, it is kept dead with its error and answered 200.
    response = post(sendgrid, body)
    assert response.status_code == 200
    row = WebhookEvent.objects.get(account=sendgrid)
    assert (row.event_type, row.status) == ("(unusable body)", "dead")


def test_forged_request_is_refused(sendgrid) -> None:
    body = json.dumps([event("delivered")]).encode()
    stamp = str(int(time.time()))
    other = sendgrid_sign(body, stamp, key=ec.generate_private_key(ec.SECP256R1()))
    response = post(
        sendgrid, [event("delivered")], timestamp=int(stamp), signature=other
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert stored(sendgrid) == []


@pytest.mark.parametrize("offset", [-3600, 3600])
def test_old_or_future_timestamp_is_refused(sendgrid, offset) -> None:
    response = post(sendgrid, [event("delivered")], timestamp=int(time.time()) + offset)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "timestamp_out_of_tolerance"


@pytest.mark.parametrize("header", [TIMESTAMP_HEADER, SIGNATURE_HEADER])
def test_missing_header_is_refused(sendgrid, header) -> None:
    response = post(sendgrid, [event("delivered")], drop=(header,))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_header"


def test_timestamp_that_is_not_unix_seconds_is_malformed(sendgrid) -> None:
    body = json.dumps([event("delivered")]).encode()
    response = Client().post(
        f"/webhooks/{sendgrid.slug}/",
        data=body,
        content_type="application/json",
        headers={
            TIMESTAMP_HEADER: "yesterday",
            SIGNATURE_HEADER: sendgrid_sign(body, "yesterday"),
        },
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("key", "code"),
    [("", "webhook_secret_missing"), ("bm90IGEga2V5", "webhook_secret_invalid")],
)
def test_unusable_verification_key_is_our_503(key, code) -> None:
    account = ProviderAccountFactory(
        kind="email",
        provider="sendgrid",
        credentials={"api_key": "SG.key", "webhook_verification_key": key},
    )
    response = post(account, [event("delivered")])
    assert response.status_code == 503
    assert response.json()["error"]["code"] == code
    assert stored(account) == []


def _records(account: ProviderAccount, payload: dict[str, Any]):
    message = WebhookMessage.build(
        event_type=payload["event"], dedupe_key="k", payload=payload
    )
    return get_adapter(account).parse_email_events(message)


@pytest.mark.parametrize(
    ("name", "kind", "bounce"),
    [
        ("delivered", EmailEventType.DELIVERED, None),
        ("deferred", EmailEventType.DEFERRED, None),
        ("bounce", EmailEventType.BOUNCED, BounceType.HARD),
        ("blocked", EmailEventType.BOUNCED, BounceType.SOFT),
        ("dropped", EmailEventType.REJECTED, None),
        ("spamreport", EmailEventType.COMPLAINED, None),
        ("open", EmailEventType.OPENED, None),
        ("click", EmailEventType.CLICKED, None),
        ("unsubscribe", EmailEventType.UNSUBSCRIBED, None),
        ("group_unsubscribe", EmailEventType.UNSUBSCRIBED, None),
    ],
)
def test_events_are_normalised(sendgrid, name, kind, bounce) -> None:
    payload = event(name)
    (record,) = _records(sendgrid, payload)
    assert (record.type, record.bounce_type) == (kind, bounce)
    assert record.recipient == payload["email"]
    assert record.provider_message_id == payload["anymail_id"]
    assert record.occurred_at.timestamp() == payload["timestamp"]
    assert record.occurred_at.tzinfo is not None


def test_events_about_nothing_we_track_give_no_record(sendgrid) -> None:
    assert _records(sendgrid, event("processed")) == []


def test_a_group_resubscribe_is_a_reactivation_of_its_group(sendgrid) -> None:
    # Dropped before: test_mail20_sendgrid_resubscribe.
    (record,) = _records(sendgrid, event("group_resubscribe"))
    assert record.type == EmailEventType.REACTIVATED
    assert record.details["message_stream"] == "asm_group:42"
    assert record.list_only


def test_our_message_id_and_details_come_back(sendgrid) -> None:
    (bounce,) = _records(sendgrid, {**event("bounce"), "message_id": "eml_1"})
    assert bounce.message_id == "eml_1"
    assert bounce.details["status"] == "5.1.1"
    assert bounce.details["reason"].startswith("550 5.1.1")
    assert "ip" not in bounce.details  # the reader's address is not kept
    (click,) = _records(sendgrid, event("click"))
    assert click.details["url"] == "http://www.example.com"


def test_event_without_anymail_id_falls_back_to_sendgrid_message_id(
    sendgrid,
) -> None:
    payload = {**event("delivered")}
    del payload["anymail_id"]
    (record,) = _records(sendgrid, payload)
    assert record.provider_message_id == "wrfRRvF7Q0GgwUo2CvDmEA"


def test_account_may_widen_the_time_window(sendgrid) -> None:
    sendgrid.settings["webhook_tolerance_seconds"] = 7200
    sendgrid.save(update_fields=["settings"])
    response = post(sendgrid, [event("delivered")], timestamp=int(time.time()) - 3600)
    assert response.status_code == 200
