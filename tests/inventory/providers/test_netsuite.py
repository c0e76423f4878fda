"""The NetSuite adapter against ``responses`` answers built from Oracle's
documented SuiteQL, record API and error shapes (tests/fixtures/netsuite/):
token-based authentication checked against a signature computed here without
oauthlib, SuiteQL paging, the upsert by external id, 429 and 5xx."""

import base64
import hashlib
import hmac
import json
import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import pytest
import requests
import responses

from integrations.errors import ConfigurationError, NotProcessed, Rejected
from integrations.limits import limit_values
from integrations.models import ProviderCall
from inventory.providers.base import LevelsQuery, PurchaseOrderStatus
from inventory.providers.netsuite import NetSuiteAdapter
from tests.inventory.contract import harness_netsuite as ns

pytestmark = pytest.mark.django_db

NONCE = "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"
TIMESTAMP = "1764892800"
FAST = {
    "account_id": "1234567_SB1",
    "max_attempts": 2,
    "backoff_base_seconds": 0.001,
    "backoff_cap_seconds": 0.001,
    "retry_after_cap_seconds": 0.5,
}
# What the independent computation below gives for the first SuiteQL page
# (limit=2, offset=0) with NONCE and TIMESTAMP; pinned so a change in
# oauthlib or in how the adapter builds the URL cannot go unnoticed.
KNOWN_SIGNATURE = "Cofg0eiiE2mERy7yCHc4wWTBMwkSbwMOuHUctaUzE/4="


@pytest.fixture
def adapter() -> NetSuiteAdapter:
    account = ns.make_account()
    account.settings = dict(FAST)
    account.save()
    return NetSuiteAdapter(account)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def fixed_nonce(monkeypatch) -> None:
    monkeypatch.setattr("oauthlib.oauth1.rfc5849.generate_nonce", lambda: NONCE)
    monkeypatch.setattr("oauthlib.oauth1.rfc5849.generate_timestamp", lambda: TIMESTAMP)


def oauth_params(request: requests.PreparedRequest) -> dict[str, str]:
    header = request.headers["Authorization"]
    assert header.startswith("OAuth ")
    return {k: unquote(v) for k, v in re.findall(r'(\w+)="([^"]*)"', header)}


def pct(value: str) -> str:
    return quote(value, safe="~")


def rfc5849_signature(method: str, url: str) -> str:
    """HMAC-SHA256 over the RFC 5849 base string, computed by hand."""
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
    normalized = "&".join(
        f"{k}={v}" for k, v in sorted((pct(k), pct(v)) for k, v in params)
    )
    base_uri = f"{parts.scheme}://{parts.netloc}{parts.path}"
    base = "&".join([method, pct(base_uri), pct(normalized)])
    key = (
        f"{pct(ns.CREDENTIALS['consumer_secret'])}&"
        f"{pct(ns.CREDENTIALS['token_secret'])}"
    )
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# --- Token-based authentication ------------------------------------------------


def test_suiteql_request_carries_the_known_answer_signature(adapter, rsps, fixed_nonce):
    rsps.post(ns.SUITEQL, json=ns.load("suiteql_levels_page1.json"))

    adapter.levels(LevelsQuery(limit=2))

    sent = rsps.calls[0].request
    params = oauth_params(sent)
    assert params["realm"] == "1234567_SB1"
    assert params["oauth_signature_method"] == "HMAC-SHA256"
    assert params["oauth_nonce"] == NONCE
    expected = rfc5849_signature("POST", sent.url)
    assert params["oauth_signature"] == expected == KNOWN_SIGNATURE


def test_every_attempt_is_signed_with_a_fresh_nonce(adapter, rsps):
    rsps.post(ns.SUITEQL, status=503, body="busy")
    rsps.post(ns.SUITEQL, json=ns.load("suiteql_levels_page2.json"))

    adapter.levels(LevelsQuery(limit=2, cursor="2"))

    nonces = [oauth_params(c.request)["oauth_nonce"] for c in rsps.calls]
    assert len(nonces) == 2 and nonces[0] != nonces[1]


def test_missing_token_secret_sends_nothing(adapter, rsps):
    adapter.account.set_credentials({**ns.CREDENTIALS, "token_secret": ""})
    adapter.account.save()

    with pytest.raises(ConfigurationError) as info:
        adapter.levels(LevelsQuery())

    assert "token_secret" in str(info.value)
    assert ns.CREDENTIALS["consumer_secret"] not in str(info.value)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("account_id", ["", "evil.example/x", "1234567.attacker"])
def test_account_id_that_is_not_one_sends_nothing(adapter, rsps, account_id):
    adapter.account.settings = {**FAST, "account_id": account_id}
    adapter.account.save()

    with pytest.raises(ConfigurationError):
        adapter.levels(LevelsQuery())
    assert len(rsps.calls) == 0


# --- SuiteQL paging --------------------------------------------------------------


def test_levels_follow_keys_until_has_more_is_false(adapter, rsps):
    ns.pages(rsps, limit=2)

    first = adapter.levels(LevelsQuery(limit=2))
    second = adapter.levels(LevelsQuery(limit=2).next(first))

    # The next page starts after the last row's item and location.
    assert (first.has_more, first.next_cursor) == (True, "501:2")
    assert (second.has_more, second.next_cursor) == (False, "")
    assert [r.sku for r in first.records + second.records] == [
        "WIDGET-RED",
        "WIDGET-RED",
        "WIDGET-BLUE",
    ]
    query = json.loads(rsps.calls[0].request.body)["q"]
    assert query.endswith("ORDER BY iil.item, iil.location")
    assert rsps.calls[0].request.headers["Prefer"] == "transient"


def test_page_size_is_capped_at_the_account_setting(adapter, rsps):
    adapter.account.settings = {**FAST, "page_size": 500}
    adapter.account.save()
    rsps.post(ns.SUITEQL, json=ns.load("suiteql_levels_page2.json"))

    adapter.levels(LevelsQuery(limit=5000))

    assert "limit=500" in rsps.calls[0].request.url


def test_skus_are_quoted_as_suiteql_literals(adapter, rsps):
    rsps.post(ns.SUITEQL, json=ns.load("suiteql_levels_page2.json"))

    adapter.levels(LevelsQuery(skus=("A'B", "C")))

    query = json.loads(rsps.calls[0].request.body)["q"]
    assert "item.itemid IN ('A''B', 'C')" in query


def test_a_fractional_quantity_is_a_rejected_level_not_a_failed_page(adapter, rsps):
    """Items sold by weight or length ('2.5'): the level is refused, not
    rounded, and the rest of the page is read (docs/inventory.md)."""
    page = ns.load("suiteql_levels_page2.json")
    page["items"][0]["quantityonhand"] = "2.5"
    rsps.post(ns.SUITEQL, json=page)

    result = adapter.levels(LevelsQuery())

    assert len(result.records) == len(page["items"]) - 1
    (rejected,) = result.rejected
    assert (rejected.sku, rejected.reason) == (
        page["items"][0]["sku"],
        "quantityonhand: not a whole number",
    )


# --- 429, 5xx, errors ------------------------------------------------------------


def test_429_without_retry_after_waits_a_concurrency_slot(adapter, rsps):
    rsps.post(ns.SUITEQL, status=429, json=ns.load("error_too_many_requests.json"))

    with pytest.raises(NotProcessed) as info:
        adapter.levels(LevelsQuery())

    assert info.value.code == "too_many_requests"
    assert info.value.retry_after == 1.0


def test_429_retry_after_is_honoured_then_retried(adapter, rsps):
    adapter.account.settings = {**FAST, "retry_after_cap_seconds": 1}
    adapter.account.save()
    rsps.post(ns.SUITEQL, status=429, headers={"Retry-After": "0"})
    rsps.post(ns.SUITEQL, json=ns.load("suiteql_levels_page2.json"))

    page = adapter.levels(LevelsQuery())

    assert len(page.records) == 1 and len(rsps.calls) == 2


def test_5xx_on_a_read_is_retried(adapter, rsps):
    rsps.post(ns.SUITEQL, status=500, body="error")
    rsps.post(ns.SUITEQL, json=ns.load("suiteql_levels_page2.json"))

    assert adapter.levels(LevelsQuery()).records[0].sku == "WIDGET-BLUE"
    assert ProviderCall.objects.get().attempts == 2


def test_400_is_rejected_with_netsuite_error_code(adapter, rsps):
    rsps.post(ns.SUITEQL, status=400, json=ns.load("error_invalid_content.json"))

    with pytest.raises(Rejected) as info:
        adapter.levels(LevelsQuery())

    assert info.value.code == "invalid_request"
    assert info.value.provider_code == "INVALID_CONTENT"


def test_401_reveals_no_credential(adapter, rsps):
    rsps.post(ns.SUITEQL, status=401, json=ns.load("error_invalid_login.json"))

    with pytest.raises(NotProcessed) as info:
        adapter.levels(LevelsQuery())

    call = ProviderCall.objects.get()
    shown = f"{info.value} {info.value!r} {call.error_code} {call.__dict__}"
    for secret in ns.CREDENTIALS.values():
        assert secret not in shown


def test_default_concurrency_cap_and_account_override(adapter):
    assert limit_values(adapter.account, ["max_concurrency"]) == {"max_concurrency": 4}
    adapter.account.settings = {**FAST, "max_concurrency": 10}
    assert limit_values(adapter.account, ["max_concurrency"]) == {"max_concurrency": 10}


def test_health_check_runs_a_signed_suiteql_query(adapter, rsps):
    rsps.post(ns.SUITEQL, json=ns.load("suiteql_items.json"))

    assert adapter.health_check().ok
    assert "Authorization" in rsps.calls[0].request.headers


# --- Purchase orders -------------------------------------------------------------


def test_upsert_puts_by_external_id_with_exact_rates(adapter, rsps):
    request = ns.po_create_idempotent(rsps, adapter.account)

    result = adapter.purchase_order_upsert(request)

    assert result.external_reference == ns.PO_INTERNAL_ID
    assert result.status == PurchaseOrderStatus.CONFIRMED
    assert result.raw_status == "Pending Receipt"
    put = next(c.request for c in rsps.calls if c.request.method == "PUT")
    assert put.url.endswith(f"/purchaseOrder/eid:{ns.PO_EXTERNAL_ID}?replace=item")
    assert b'"rate": 12.50' in put.body
    body = json.loads(put.body)
    assert body["externalId"] == ns.PO_EXTERNAL_ID
    assert body["entity"] == {"id": "77"} and body["location"] == {"id": "1"}
    assert [line["item"]["id"] for line in body["item"]["items"]] == ["501", "502"]
    assert "Idempotency-Key" not in put.headers


def test_upsert_read_timeout_is_retried_with_the_same_put(adapter, rsps):
    request = ns.po_create_idempotent(rsps, adapter.account)
    put_url = f"{ns.BASE}/record/v1/purchaseOrder/eid:{ns.PO_EXTERNAL_ID}"
    rsps.replace(responses.PUT, put_url, body=requests.ReadTimeout("slow"))
    rsps.add(responses.PUT, put_url, status=204)

    result = adapter.purchase_order_upsert(request)

    puts = [c.request for c in rsps.calls if c.request.method == "PUT"]
    assert len(puts) == 2 and puts[0].body == puts[1].body
    assert result.external_reference == ns.PO_INTERNAL_ID


def test_upsert_of_an_unknown_sku_is_rejected_before_any_put(adapter, rsps):
    request = ns.po_create_idempotent(rsps, adapter.account)
    items = ns.load("suiteql_items.json")
    items["items"] = items["items"][:1]
    rsps.replace(responses.POST, ns.SUITEQL, json=items)

    with pytest.raises(Rejected) as info:
        adapter.purchase_order_upsert(request)

    assert info.value.code == "unknown_sku" and "WIDGET-BLUE" in str(info.value)
    assert not [c for c in rsps.calls if c.request.method == "PUT"]


@pytest.mark.parametrize(
    ("code", "status"),
    [("A", "sent"), ("F", "received"), ("H", "cancelled")],
)
def test_order_status_codes_map_to_ours(adapter, rsps, code, status):
    record = ns.load("purchase_order.json")
    record["orderStatus"] = {"id": code, "refName": "x"}
    rsps.get(f"{ns.BASE}/record/v1/purchaseOrder/3581", json=record)

    assert adapter.purchase_order_status("3581").status == status


def test_a_failed_page_can_be_stepped_past(adapter):
    # The sync records a failed page and goes on from the next offset, which
    # must be the one the page would have given.
    from inventory.providers.base import LevelsQuery, offset_from_cursor

    first = LevelsQuery(limit=2)
    after = adapter.cursor_after(first)
    assert offset_from_cursor(after) == 2
    assert (
        offset_from_cursor(adapter.cursor_after(LevelsQuery(cursor=after, limit=2)))
        == 4
    )
