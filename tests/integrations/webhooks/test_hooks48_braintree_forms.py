"""hooks48: a Braintree notification is a form (bt_signature, bt_payload)
whose signature covers only bt_payload. Since hooks46 found the signature
in any encoding, a validly signed form with other fields in UTF-8 beyond
ASCII is accepted (it was refused when the form was read as ASCII); the same
form in another encoding (Latin-1 bytes) is still refused 400 once the
signature has passed, and stores nothing (the intake keeps no refused
request: docs/webhooks.md, "What still stores nothing")."""

import base64
from urllib.parse import parse_qs, quote, urlencode

import pytest
from braintree.util.crypto import Crypto

from integrations.models import WebhookEvent, WebhookStatus
from tests.integrations.intake41_helpers import assert_stored_unusable
from tests.integrations.intake43_helpers import refusals
from tests.integrations.webhooks.hooks48_signed import braintree_form
from tests.payments.contract import harness_braintree

pytestmark = pytest.mark.django_db

NAME = "Zoë Müller, café №5"
FORM = "application/x-www-form-urlencoded"


def _post(client, account, body: bytes):
    return client.post(f"/webhooks/{account.slug}/", data=body, content_type=FORM)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(f"note={NAME}".encode(), id="raw-utf8"),
        pytest.param(f"note={quote(NAME)}".encode(), id="percent-encoded-utf8"),
    ],
)
def test_a_signed_form_with_other_fields_in_utf8_is_stored_as_its_event(client, extra):
    account = harness_braintree.make_account()
    body = braintree_form(extra)

    response = _post(client, account, body)

    assert response.status_code == 200, response.content
    assert response.json() == {"received": True, "duplicate": False}
    row = WebhookEvent.objects.get(account=account)
    assert row.event_type == "transaction_settled"
    assert row.status == WebhookStatus.RECEIVED
    assert bytes(row.raw_body) == body  # as received, the extra field kept
    assert row.dedupe_key.startswith(f"transaction_settled:{harness_braintree.TXN}:")


def test_the_same_signed_form_in_latin1_is_refused_malformed_and_stores_nothing(
    client,
):
    account = harness_braintree.make_account()
    in_utf8 = braintree_form(f"note={NAME}".encode())
    in_latin1 = braintree_form(f"note={NAME}".replace("№", "No").encode("latin-1"))
    before = refusals(account.slug, "malformed_request")

    response = _post(client, account, in_latin1)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "malformed_request"
    assert error["message"] == (
        "The webhook body is not a Braintree event (a form in UTF-8)."
    )
    assert refusals(account.slug, "malformed_request") == before + 1
    assert not WebhookEvent.objects.exists()
    # The signature passed (a forgery is 401): the same form in UTF-8 is taken.
    assert _post(client, account, in_utf8).status_code == 200
    assert WebhookEvent.objects.filter(account=account).count() == 1


def test_a_forged_form_with_latin1_bytes_is_refused_as_forged(client):
    account = harness_braintree.make_account()
    signed = braintree_form(b"note=caf\xe9")
    forged = signed.replace(b"bt_signature=", b"bt_signature=x", 1)

    response = _post(client, account, forged)

    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not WebhookEvent.objects.exists()


# --- What no column holds (docs/webhooks.md, "Characters no column holds") ---


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(b"note=a%00b", id="nul"),
        pytest.param(b"note=a%ED%A0%80b", id="surrogate-bytes"),
    ],
)
def test_a_signed_form_with_such_a_field_is_stored_as_its_event(client, extra):
    account = harness_braintree.make_account()
    body = braintree_form(extra)

    response = _post(client, account, body)

    assert response.status_code == 200, response.content
    row = WebhookEvent.objects.get(account=account)
    assert row.event_type == "transaction_settled"
    assert bytes(row.raw_body) == body


@pytest.mark.parametrize("reference", ["&#0;", "&#xD800;"])
def test_a_signed_notification_whose_xml_holds_one_is_kept_dead(client, reference):
    # XML 1.0 has no such character: the SDK cannot read the notification.
    # Signed with the account's key, it is kept with its error, answered 200.
    account = harness_braintree.make_account()
    form = parse_qs(braintree_form().decode())
    xml = base64.b64decode(form["bt_payload"][0]).decode()
    payload = base64.encodebytes(xml.replace("<id>", f"<id>{reference}", 1).encode())
    text = payload.decode()
    hmac = Crypto.sha1_hmac_hash(harness_braintree.PRIVATE_KEY, text)
    signature = f"{harness_braintree.PUBLIC_KEY}|{hmac}"
    body = urlencode({"bt_signature": signature, "bt_payload": text}).encode()

    response = _post(client, account, body)

    assert_stored_unusable(account, response, body)
