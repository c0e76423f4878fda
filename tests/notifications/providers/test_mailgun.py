"""Mailgun: sends over a local fault server (form fields, region, errors from
the spec's examples) and webhooks through the intake (HMAC of timestamp and
token, the token's replay check, event normalisation). Fixtures:
tests/fixtures/mailgun/ (README there)."""

import base64
import json
import time
from email.utils import formatdate
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from django.db import OperationalError
from django.test import Client

from integrations.errors import NotProcessed, Rejected
from integrations.models import ProviderAccount, WebhookEvent
from integrations.registry import get_adapter
from integrations.testing.faultserver import FaultServer, respond
from integrations.webhooks.messages import WebhookMessage
from integrations.webhooks.services import webhook_event_process
from notifications.models import EmailStatus, Suppression
from notifications.providers import mailgun as mailgun_module
from notifications.providers.base import INVALID_RECIPIENT, BounceType, EmailEventType
from notifications.providers.mailgun import MailgunAdapter
from notifications.services import email_message_create
from notifications.services.events import email_event_apply
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.contract.harness_mailgun import SIGNING_KEY, event, signed
from tests.notifications.providers.conftest import fast

pytestmark = pytest.mark.django_db
ORDER = {"order_id": "1001", "amount_display": "€10.50"}

API = json.loads((Path(__file__).parents[2] / "fixtures/mailgun/api.json").read_text())
DOMAIN = "mg.example.com"
SEND = f"/v3/{DOMAIN}/messages"


@pytest.fixture
def mailgun(fault: FaultServer, monkeypatch: pytest.MonkeyPatch) -> ProviderAccount:
    urls = {"us": fault.url + "/", "eu": fault.url + "/eu/"}
    monkeypatch.setattr(MailgunAdapter, "region_urls", urls)
    return ProviderAccountFactory(
        kind="email",
        provider="mailgun",
        credentials={"api_key": "key-secret", "webhook_signing_key": SIGNING_KEY},
        settings=fast(sender_domain=DOMAIN),
    )


def _send(account: ProviderAccount, **changes):
    return get_adapter(account).send(sample_email(**changes))


def test_send_posts_form_fields_with_our_id(mailgun, fault) -> None:
    fault.route("POST", SEND, respond(200, json=API["send_ok"]))
    result = _send(mailgun)
    assert result.provider_message_id == "20180812211713.1.DF5966851B4BAA99@example.org"
    (request,) = fault.requests_for("POST", SEND)
    user, _, key = base64.b64decode(request.header("Authorization")[6:]).partition(b":")
    assert (user, key) == (b"api", b"key-secret")
    fields = parse_qs(request.body.decode())
    assert fields["to"] == ["ada@example.com"]
    assert fields["v:message_id"] == ["eml_contract0001"]
    assert fields["o:tag"] == ["order_confirmation"]
    assert fields["h:X-Switchyard-Message-Id"] == ["eml_contract0001"]


def test_an_idn_address_is_sent_as_punycode_and_its_id_read(mailgun, fault) -> None:
    fault.route("POST", SEND, respond(200, json=API["send_ok"]))
    result = _send(mailgun, to="ada@bücher.de")
    assert result.provider_message_id == "20180812211713.1.DF5966851B4BAA99@example.org"
    (request,) = fault.requests_for("POST", SEND)
    assert parse_qs(request.body.decode())["to"] == ["ada@xn--bcher-kva.de"]


def test_eu_region_sends_to_the_eu_host(mailgun, fault) -> None:
    mailgun.settings["region"] = "eu"
    mailgun.save(update_fields=["settings"])
    fault.route("POST", "/eu" + SEND, respond(200, json=API["send_ok"]))
    _send(mailgun)
    assert len(fault.requests_for("POST", "/eu" + SEND)) == 1


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (400, API["invalid_recipient"], Rejected, INVALID_RECIPIENT),
        (400, {"message": "from parameter is missing"}, Rejected, "bad_request"),
        (404, API["domain_not_found"], NotProcessed, "sending_not_allowed"),
        (500, API["server_error"], NotProcessed, "server_error"),
    ],
)
def test_errors_from_the_spec(mailgun, fault, status, body, error, code) -> None:
    fault.route("POST", SEND, respond(status, json=body))
    with pytest.raises(error) as info:
        _send(mailgun)
    assert info.value.code == code


def test_401_forbidden_is_not_processed(mailgun, fault) -> None:
    fault.route("POST", SEND, respond(401, body=b"Forbidden"))
    with pytest.raises(NotProcessed) as info:
        _send(mailgun)
    assert info.value.code == "authentication_failed"


def test_429_retry_after_read_from_the_body(mailgun, fault) -> None:
    fault.route("POST", SEND, respond(429, json=API["rate_limited"]))
    with pytest.raises(NotProcessed) as info:
        _send(mailgun)
    assert (info.value.retry_after, info.value.http_status) == (120.0, 429)


def test_429_an_absurd_wait_in_the_body_is_bounded(mailgun, fault, settings) -> None:
    body = {"message": "Too many requests, try again after 99999999999 seconds"}
    fault.route("POST", SEND, respond(429, json=body))
    with pytest.raises(NotProcessed) as info:
        _send(mailgun)
    assert info.value.retry_after == settings.BREAKER_MAX_RETRY_AFTER_SECONDS


@pytest.mark.parametrize(
    ("wait", "expected"),
    [
        ("120", 120.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-5", 0.0),  # already past: no wait
        ("inf", "ceiling"),
        ("1e400", "ceiling"),
        ("9" * 5000, "ceiling"),
        ("nan", None),  # no number: no wait is believed
        ("soon", None),
    ],
)
def test_429_odd_waits_in_the_body_read_as_any_retry_after(
    mailgun, fault, settings, wait, expected
) -> None:
    # The same rules as every Retry-After (parse_retry_after): clamped to
    # [0, the one ceiling], None when it is no number.
    body = {"message": f"limit exceeded, try again after {wait} seconds"}
    fault.route("POST", SEND, respond(429, json=body))
    with pytest.raises(NotProcessed) as info:
        _send(mailgun)
    ceiling = float(settings.BREAKER_MAX_RETRY_AFTER_SECONDS)
    assert info.value.retry_after == (ceiling if expected == "ceiling" else expected)
    assert info.value.code == "too_many_requests"


def test_429_an_unusable_retry_after_header_leaves_the_body_s_wait(
    mailgun, fault
) -> None:
    answer = respond(429, json=API["rate_limited"], headers={"Retry-After": "soon"})
    fault.route("POST", SEND, answer)
    with pytest.raises(NotProcessed) as info:
        _send(mailgun)
    assert info.value.retry_after == 120.0


def test_429_retry_after_as_an_http_date_against_mailgun_s_clock(
    mailgun, fault
) -> None:
    now = 1_700_000_000
    headers = {
        "Date": formatdate(now, usegmt=True),
        "Retry-After": formatdate(now + 30, usegmt=True),
    }
    fault.route("POST", SEND, respond(429, json=API["rate_limited"], headers=headers))
    with pytest.raises(NotProcessed) as info:
        _send(mailgun)
    assert info.value.retry_after == 30.0


def test_429_retry_after_header_wins(mailgun, fault) -> None:
    answer = respond(429, json=API["rate_limited"], headers={"Retry-After": "3"})
    fault.route("POST", SEND, answer)
    with pytest.raises(NotProcessed) as info:
        _send(mailgun)
    assert info.value.retry_after == 3.0


def test_missing_sending_domain_sends_nothing(mailgun, fault) -> None:
    mailgun.settings.pop("sender_domain")
    mailgun.save(update_fields=["settings"])
    with pytest.raises(NotProcessed) as info:
        _send(mailgun)
    assert info.value.code == "missing_settings"
    assert fault.requests == []


def test_health_check_reads_the_domain(mailgun, fault) -> None:
    fault.route("GET", f"/v4/domains/{DOMAIN}", respond(200, json=API["domain"]))
    assert get_adapter(mailgun).health_check().ok
    unverified = {"domain": {**API["domain"]["domain"], "state": "unverified"}}
    fault.route("GET", f"/v4/domains/{DOMAIN}", respond(200, json=unverified))
    assert not get_adapter(mailgun).health_check().ok


def post(account: ProviderAccount, body: bytes):
    return Client().post(
        f"/webhooks/{account.slug}/", data=body, content_type="application/json"
    )


def test_signed_event_is_stored_by_its_event_id(mailgun) -> None:
    response = post(mailgun, signed(event("delivered")).body)
    assert response.status_code == 200
    row = WebhookEvent.objects.get(account=mailgun)
    assert (row.event_type, row.dedupe_key) == ("delivered", "hTWCTD81RtiDN-delivered")


def test_same_request_twice_is_a_duplicate_not_a_replay(mailgun) -> None:
    hook = signed(event("delivered"))
    assert post(mailgun, hook.body).status_code == 200
    again = post(mailgun, hook.body)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True


def test_token_reused_on_another_body_is_refused(mailgun) -> None:
    first = signed(event("delivered"), token="a" * 50)
    assert post(mailgun, first.body).status_code == 200
    # A captured signature block carried over to a forged event.
    forged = json.loads(first.body)
    forged["event-data"] = event("complained")
    response = post(mailgun, json.dumps(forged).encode())
    assert response.status_code == 401
    assert response.json()["error"]["param"] == "signature.token"
    assert WebhookEvent.objects.filter(account=mailgun).count() == 1


def test_wrong_key_and_old_timestamp_are_refused(mailgun) -> None:
    forged = post(mailgun, signed(event("delivered"), key="wrong").body)
    assert forged.json()["error"]["code"] == "invalid_signature"
    stale = post(
        mailgun, signed(event("delivered"), timestamp=int(time.time()) - 900).body
    )
    assert stale.json()["error"]["code"] == "timestamp_out_of_tolerance"


@pytest.mark.parametrize(
    "body",
    [
        {"event-data": {"event": "delivered"}},
        {"signature": {"timestamp": "x", "token": "t", "signature": "s"}},
        {"signature": "not a block", "event-data": {}},
    ],
)
def test_unsigned_or_malformed_bodies_are_refused(mailgun, body) -> None:
    response = post(mailgun, json.dumps(body).encode())
    assert response.status_code == 400
    assert not WebhookEvent.objects.filter(account=mailgun).exists()


@pytest.mark.parametrize(
    ("name", "kind", "bounce"),
    [
        ("delivered", EmailEventType.DELIVERED, None),
        ("opened", EmailEventType.OPENED, None),
        ("clicked", EmailEventType.CLICKED, None),
        ("failed_permanent", EmailEventType.BOUNCED, BounceType.HARD),
        ("failed_temporary", EmailEventType.DEFERRED, None),
        ("failed_suppressed", EmailEventType.REJECTED, None),
        ("complained", EmailEventType.COMPLAINED, None),
        ("unsubscribed", EmailEventType.UNSUBSCRIBED, None),
    ],
)
def test_events_are_normalised(mailgun, name, kind, bounce) -> None:
    data = event(name)
    message = WebhookMessage.build(
        event_type=data["event"], dedupe_key="k", payload=data
    )
    (record,) = get_adapter(mailgun).parse_email_events(message)
    assert (record.type, record.bounce_type) == (kind, bounce)
    assert record.recipient == data["recipient"]
    headers = data["message"]["headers"]
    assert record.provider_message_id == headers["message-id"]
    assert abs(record.occurred_at.timestamp() - data["timestamp"]) < 1e-3


def test_accepted_event_gives_no_record(mailgun) -> None:
    data = event("accepted")
    message = WebhookMessage.build(event_type="accepted", dedupe_key="k", payload=data)
    assert get_adapter(mailgun).parse_email_events(message) == []


def test_bounce_details_and_our_id(mailgun) -> None:
    data = {**event("failed_permanent"), "user-variables": {"message_id": "eml_9"}}
    message = WebhookMessage.build(event_type="failed", dedupe_key="k", payload=data)
    (record,) = get_adapter(mailgun).parse_email_events(message)
    assert record.message_id == "eml_9"
    assert record.details["code"] == 550
    assert record.details["severity"] == "permanent"


def test_token_store_down_asks_mailgun_to_deliver_again(mailgun, monkeypatch) -> None:
    def down(**kwargs):
        raise OperationalError("database unreachable")

    monkeypatch.setattr(mailgun_module.webhook_tokens, "webhook_token_claim", down)
    response = post(mailgun, signed(event("delivered")).body)
    assert response.status_code == 503
    assert not WebhookEvent.objects.filter(account=mailgun).exists()


def test_account_may_widen_the_time_window(mailgun) -> None:
    # Mailgun retries for 8 hours; an account may accept older signatures.
    mailgun.settings["webhook_tolerance_seconds"] = 3600
    mailgun.save(update_fields=["settings"])
    old = signed(event("delivered"), timestamp=int(time.time()) - 1800)
    assert post(mailgun, old.body).status_code == 200
    older = signed(event("opened"), timestamp=int(time.time()) - 7200)
    assert post(mailgun, older.body).status_code == 401


def _failed(reason: str, **status) -> dict:
    # Mailgun's documented permanent ``failed`` event (the spec's Failed
    # example, anymail's failed_permanent) with another reason and
    # delivery-status (its DeliveryStatusObject: code, message, description,
    # enhanced-code).
    return {
        **event("failed_permanent"),
        "reason": reason,
        "delivery-status": {
            "attempt-no": 1,
            "message": "",
            "description": "",
            **status,
        },
    }


@pytest.mark.parametrize(
    ("data", "kind", "bounce"),
    [
        # The recipient's mailbox does not exist: the address is suppressed.
        (event("failed_permanent"), EmailEventType.BOUNCED, BounceType.HARD),
        (
            _failed("bounce", code=550, **{"enhanced-code": "5.1.1"}),
            EmailEventType.BOUNCED,
            BounceType.HARD,
        ),
        (
            _failed("delayed-bounce", code=550, message="smtp; 550 5.1.1 no such user"),
            EmailEventType.BOUNCED,
            BounceType.HARD,
        ),
        (
            _failed("generic", code=550, message="5.2.1 The account is disabled"),
            EmailEventType.BOUNCED,
            BounceType.HARD,
        ),
        (_failed("bounce", code=550), EmailEventType.BOUNCED, BounceType.HARD),
        (_failed("generic", code=553), EmailEventType.BOUNCED, BounceType.HARD),
        # Anything else failed the message, not the address.
        (
            _failed("old", code=498, description="Too old"),
            EmailEventType.REJECTED,
            None,
        ),
        (
            _failed("old", code=421, message="4.2.2 Mailbox full, try later"),
            EmailEventType.REJECTED,
            None,
        ),
        (
            _failed("espblock", code=554, message="5.7.1 Message rejected as spam"),
            EmailEventType.REJECTED,
            None,
        ),
        (
            _failed("bounce", code=550, message="5.7.1 Blocked by policy"),
            EmailEventType.REJECTED,
            None,
        ),
        (
            _failed("generic", code=550, message="smtp; 550 Address unknown"),
            EmailEventType.REJECTED,
            None,
        ),
        (
            _failed("delayed-bounce", code=550, **{"enhanced-code": "5.0.0"}),
            EmailEventType.REJECTED,
            None,
        ),
        (
            _failed("hardfail", code=552, message="5.2.2 Mailbox full"),
            EmailEventType.REJECTED,
            None,
        ),
    ],
)
def test_a_permanent_failure_suppresses_only_when_the_mailbox_is_bad(
    mailgun, data, kind, bounce
) -> None:
    message = WebhookMessage.build(event_type="failed", dedupe_key="k", payload=data)
    (record,) = get_adapter(mailgun).parse_email_events(message)
    assert (record.type, record.bounce_type) == (kind, bounce)
    assert record.suppressed_for == ""


def test_gave_up_after_retries_fails_the_message_and_keeps_the_address(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        sent = email_message_create(
            to="invalid@example.com", template="order_confirmation", context=ORDER
        )
    data = {
        **_failed("old", code=498, description="Too old"),
        "user-variables": {"message_id": sent.public_id},
    }
    account = ProviderAccountFactory(kind="email", provider="mailgun", slug="mg-old")
    (record,) = get_adapter(account).parse_email_events(
        WebhookMessage.build(event_type="failed", dedupe_key="k", payload=data)
    )
    email_event_apply(message=sent, record=record)
    sent.refresh_from_db()
    assert sent.status == EmailStatus.FAILED
    assert not Suppression.objects.exists()


def test_a_bounce_for_a_message_we_cannot_match_still_suppresses_the_address(
    mailgun,
) -> None:
    # Mailgun's documented hard bounce (5.1.1), for a message we have no id
    # of: the address is what it is about.
    hook = signed(event("failed_permanent"))
    assert post(mailgun, hook.body).status_code == 200
    row = WebhookEvent.objects.get(account=mailgun)
    webhook_event_process(event_id=row.pk)
    (suppression,) = Suppression.objects.all()
    assert (suppression.address, suppression.reason) == (
        "invalid@example.com",
        "hard_bounce",
    )
    assert suppression.source == f"webhook:{mailgun.slug}:{row.pk}"


def test_delivery_news_for_a_message_we_cannot_match_changes_nothing(
    mailgun,
) -> None:
    for name in ("delivered", "opened", "failed_temporary"):
        assert post(mailgun, signed(event(name)).body).status_code == 200
    for row in WebhookEvent.objects.filter(account=mailgun):
        assert webhook_event_process(event_id=row.pk) == "processed"
    assert not Suppression.objects.exists()


def _from_domain(sender_domain: str, **changes) -> dict:
    # Mailgun's documented hard bounce, sent through the shared account by
    # another system: its event names that system's sending domain (the
    # logs' ``domain.name`` and the envelope sender) and no message of ours.
    return {
        **event("failed_permanent"),
        "domain": {"name": sender_domain},
        "envelope": {"sender": f"bounce@{sender_domain}", "transport": "smtp"},
        **changes,
    }


def test_a_bounce_of_another_sending_domain_on_the_account_is_ignored(
    mailgun,
) -> None:
    assert post(mailgun, signed(_from_domain("mg.other.org")).body).status_code == 200
    row = WebhookEvent.objects.get(account=mailgun)
    assert webhook_event_process(event_id=row.pk) == "processed"
    row.refresh_from_db()
    assert row.note.startswith("ignored: another system's mail on a shared account")
    assert "sending domain" in row.note
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    "changes",
    [
        {},  # our sending domain
        {"domain": None, "envelope": {"sender": "shop@example.com"}},  # its parent
        {"domain": {"name": "MG.Example.COM"}},
        {"domain": None, "envelope": None},  # names none: counted, as before
    ],
)
def test_a_bounce_of_our_sending_domain_still_suppresses(mailgun, changes) -> None:
    assert (
        post(mailgun, signed(_from_domain(DOMAIN, **changes)).body).status_code == 200
    )
    webhook_event_process(event_id=WebhookEvent.objects.get(account=mailgun).pk)
    (suppression,) = Suppression.objects.all()
    assert suppression.address == "invalid@example.com"


def test_an_event_naming_our_message_applies_whatever_domain_it_names(
    mailgun, email_accounts, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = email_message_create(
            to="jane@example.com", template="order_confirmation", context=ORDER
        )
    payload = _from_domain(
        "mg.other.org",
        recipient="jane@example.com",
        **{"user-variables": {"message_id": message.public_id}},
    )
    assert post(mailgun, signed(payload).body).status_code == 200
    webhook_event_process(event_id=WebhookEvent.objects.get(account=mailgun).pk)
    message.refresh_from_db()
    assert message.status == EmailStatus.BOUNCED
    assert Suppression.objects.get().address == "jane@example.com"


@pytest.mark.parametrize("value", ["x", ["x"], 7, True])
@pytest.mark.parametrize(
    "key",
    [
        "storage",
        "envelope",
        "message",
        "user-variables",
        "delivery-status",
        "client-info",
    ],
)
def test_a_signed_event_with_a_non_object_part_is_read_not_crashed_on(
    mailgun, key, value
) -> None:
    # Signed by the account's key, so past the intake's checks: a part the
    # schema says is an object but is not reads as absent. No ``domain``, so
    # the sender is read from ``storage`` and ``envelope``.
    payload = {**_from_domain(DOMAIN), "domain": None, key: value}
    assert post(mailgun, signed(payload).body).status_code == 200
    row = WebhookEvent.objects.get(account=mailgun)
    assert webhook_event_process(event_id=row.pk) == "processed"
    # Without its delivery status a permanent failure does not say the
    # mailbox is bad: the address stays (see _address_bounced).
    suppressed = key != "delivery-status"
    assert Suppression.objects.filter(address="invalid@example.com").exists() is (
        suppressed
    )


def test_non_object_headers_read_as_absent(mailgun) -> None:
    payload = {**_from_domain(DOMAIN), "message": {"headers": "x"}}
    (record,) = get_adapter(mailgun).parse_email_events(
        WebhookMessage.build(event_type="failed", dedupe_key="k", payload=payload)
    )
    assert record.provider_message_id == ""
