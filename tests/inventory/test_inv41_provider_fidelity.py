"""What the ERP adapters put on the wire, compared with the providers' own
descriptions: NetSuite's purchase order record (every text field sent as
given, rates as exact JSON numbers) and its token-based authentication over
a record path holding percent-encoded characters (RFC 5849 3.4.1.2: the
path as sent, encoded again in the base string)."""

import base64
import hashlib
import hmac
import json
import re
from dataclasses import replace
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import pytest
import requests
import responses

from inventory.providers.netsuite import NetSuiteAdapter
from tests.inventory.contract import harness_netsuite as ns

pytestmark = pytest.mark.django_db

NONCE = "inv41nonceinv41nonceinv41nonce"
TIMESTAMP = "1764892800"


@pytest.fixture
def adapter() -> NetSuiteAdapter:
    return NetSuiteAdapter(ns.make_account())


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _put_body(rsps) -> dict:
    put = next(c.request for c in rsps.calls if c.request.method == "PUT")
    return json.loads(put.body)


@pytest.mark.parametrize("field", ["memo", "external_id"])
def test_a_text_field_that_looks_like_a_rate_placeholder_is_sent_as_given(
    adapter, rsps, field
):
    # The rates are spliced into the JSON text after encoding it: a memo or
    # external id equal to a placeholder must not become a number.
    text = "__rate_0__"
    request = replace(ns.po_create_idempotent(rsps, adapter.account), **{field: text})
    record = f"{ns.BASE}/record/v1/purchaseOrder/eid:{text}"
    rsps.put(record, status=204)
    rsps.get(record, json=ns.load("purchase_order.json"))

    adapter.purchase_order_upsert(request)

    body = _put_body(rsps)
    sent = body["memo"] if field == "memo" else body["externalId"]
    assert sent == text
    assert [line.get("rate") for line in body["item"]["items"]] == [12.5, 12.5]


def pct(value: str) -> str:
    return quote(value, safe="~")


def _signature(method: str, url: str) -> str:
    """RFC 5849 HMAC-SHA256, by hand: the base string URI keeps the path's
    own percent-encoding, then the whole URI is percent-encoded again."""
    parts = urlsplit(url)
    params = [
        *parse_qsl(parts.query),
        ("oauth_consumer_key", ns.CREDENTIALS["consumer_key"]),
        ("oauth_nonce", NONCE),
        ("oauth_signature_method", "HMAC-SHA256"),
        ("oauth_timestamp", TIMESTAMP),
        ("oauth_token", ns.CREDENTIALS["token_id"]),
        ("oauth_version", "1.0"),
    ]
    normalized = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(params))
    base_uri = f"{parts.scheme}://{parts.netloc}{parts.path}"
    base = "&".join([method, pct(base_uri), pct(normalized)])
    secrets = (ns.CREDENTIALS["consumer_secret"], ns.CREDENTIALS["token_secret"])
    key = "&".join(pct(secret) for secret in secrets)
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_a_record_path_with_encoded_characters_is_signed_as_sent(
    adapter, rsps, monkeypatch
):
    monkeypatch.setattr("oauthlib.oauth1.rfc5849.generate_nonce", lambda: NONCE)
    monkeypatch.setattr("oauthlib.oauth1.rfc5849.generate_timestamp", lambda: TIMESTAMP)
    external = "PO 7/8+é"
    url = f"{ns.BASE}/record/v1/purchaseOrder/{quote(external, safe='')}"
    rsps.get(url, json=ns.load("purchase_order.json"))

    adapter.purchase_order_fetch(external)

    sent = rsps.calls[0].request
    assert sent.url == url
    header = sent.headers["Authorization"]
    assert header.startswith('OAuth realm="1234567_SB1"')
    params = {k: unquote(v) for k, v in re.findall(r'(\w+)="([^"]*)"', header)}
    assert params["oauth_signature"] == _signature("GET", url)


class SublistErp:
    """NetSuite's record service as documented for an upsert that finds its
    record ("Working with Sublists"): sublist lines sent without their key
    are added to the lines already there, unless ``replace`` names the
    sublist, which replaces them."""

    def __init__(self) -> None:
        self.lines: list[dict] | None = None

    def put(self, request):
        sent = json.loads(request.body)["item"]["items"]
        query = dict(parse_qsl(urlsplit(request.url).query))
        replaced = "item" in query.get("replace", "").split(",")
        if self.lines is None or replaced:
            self.lines = list(sent)
        else:
            self.lines += sent
        return 204, {}, ""


def test_an_upsert_sent_again_leaves_the_order_with_its_lines_once(
    adapter, rsps, monkeypatch
):
    monkeypatch.setattr("oauthlib.oauth1.rfc5849.generate_nonce", lambda: NONCE)
    monkeypatch.setattr("oauthlib.oauth1.rfc5849.generate_timestamp", lambda: TIMESTAMP)
    # The first PUT was applied but its answer lost (a timeout): the retry
    # (replays_writes) finds the order and must not add its lines again.
    erp = SublistErp()
    request = ns.po_create_idempotent(rsps, adapter.account)
    put_url = f"{ns.BASE}/record/v1/purchaseOrder/eid:{ns.PO_EXTERNAL_ID}"
    rsps.remove(responses.PUT, put_url)

    def applied_then_lost(sent):
        erp.put(sent)
        raise requests.ReadTimeout("answer lost")

    put = re.compile(re.escape(put_url) + r"(\?.*)?$")
    rsps.add_callback(responses.PUT, put, callback=applied_then_lost)
    rsps.add_callback(responses.PUT, put, callback=erp.put)

    adapter.purchase_order_upsert(request)

    puts = [c.request for c in rsps.calls if c.request.method == "PUT"]
    assert len(puts) == 2
    assert [line["quantity"] for line in erp.lines] == [10, 5]
    # The query is signed with the rest (RFC 5849 3.4.1.3.1).
    header = puts[1].headers["Authorization"]
    params = {k: unquote(v) for k, v in re.findall(r'(\w+)="([^"]*)"', header)}
    assert params["oauth_signature"] == _signature("PUT", puts[1].url)
