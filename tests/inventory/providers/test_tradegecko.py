"""The TradeGecko adapter against answers taken from the gecko client's
recorded exchanges (tests/fixtures/tradegecko/): bearer auth, paging by
``page`` and ``meta.total``, stock per location, purchase orders by
Idempotency-Key, 429 from X-Rate-Limit-Reset, 5xx, signed webhooks."""

import json
import time
from email.utils import formatdate

import pytest
import requests
import responses

from integrations.errors import ConfigurationError, NotProcessed, Rejected, Unknown
from integrations.models import ProviderCall
from integrations.webhooks.verification import WebhookVerificationError
from inventory.providers.base import LevelsQuery, PurchaseOrderStatus
from inventory.providers.tradegecko import TradeGeckoAdapter
from tests.inventory.contract import harness_tradegecko as tg

pytestmark = pytest.mark.django_db

FAST = {
    "max_attempts": 2,
    "backoff_base_seconds": 0.001,
    "backoff_cap_seconds": 0.001,
    "retry_after_cap_seconds": 0.5,
}


@pytest.fixture
def adapter() -> TradeGeckoAdapter:
    account = tg.make_account()
    account.settings = dict(FAST)
    account.save()
    return TradeGeckoAdapter(account)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_levels_read_stock_per_location_with_bearer_token(adapter, rsps):
    tg.answer(rsps, "GET", tg.VARIANTS, "variants_first_page.json")

    page = adapter.levels(LevelsQuery(limit=5))

    sent = rsps.calls[0].request
    assert sent.headers["Authorization"] == "Bearer contract-token"
    assert "limit=5" in sent.url and "page=1" in sent.url
    gecko = [r for r in page.records if r.sku == "GECKO-BARSTOOL"]
    assert {(r.location_code, r.on_hand) for r in gecko} >= {("159", 202), ("160", 98)}
    # The ERP's own negative stock is reported as it is.
    assert ("159", -10) in {
        (r.location_code, r.on_hand) for r in page.records if r.sku == "CHEESE-DEFAULT"
    }
    # Page 2, carrying page 1's last variant id (its boundary is checked):
    # a full listing asked in descending id order, whose recorded page is not
    # in it, is checked by that id ("p"), not by the totals (inv20).
    assert (page.has_more, page.next_cursor) == (True, "2::982815:p")


def test_last_page_by_meta_total_ends_paging(adapter, rsps):
    tg.answer(rsps, "GET", tg.VARIANTS, "variants_last_page.json")

    page = adapter.levels(LevelsQuery(limit=5, cursor="2"))

    assert (page.has_more, page.next_cursor) == (False, "")


def test_variants_without_sku_are_skipped(adapter, rsps):
    # The recording as it is: every SKU empty.
    tg.answer(rsps, "GET", tg.VARIANTS, "variants.json")

    assert adapter.levels(LevelsQuery(limit=5)).records == ()


def test_page_size_is_capped_at_250(adapter, rsps):
    tg.answer(rsps, "GET", tg.VARIANTS, "variants_last_page.json")

    adapter.levels(LevelsQuery(limit=10_000))

    assert "limit=250" in rsps.calls[0].request.url


def test_a_fractional_stock_figure_is_a_rejected_level_not_a_failed_page(adapter, rsps):
    """An item sold by weight ('1.5'): that level is refused, not rounded,
    and the rest of the page is read (docs/inventory.md)."""
    fixture = tg.load("variants_first_page.json")
    variant = fixture["body"]["variants"][0]
    variant["locations"][0]["stock_on_hand"] = "1.5"
    rsps.get(tg.VARIANTS, json=fixture["body"])

    page = adapter.levels(LevelsQuery())

    (rejected,) = page.rejected
    assert (rejected.sku, rejected.location_code, rejected.reason) == (
        variant["sku"],
        str(variant["locations"][0]["location_id"]),
        "stock_on_hand: not a whole number",
    )
    assert page.records


def test_missing_token_sends_nothing(adapter, rsps):
    adapter.account.set_credentials({"app_secret": tg.APP_SECRET})
    adapter.account.save()

    with pytest.raises(ConfigurationError):
        adapter.levels(LevelsQuery())
    assert len(rsps.calls) == 0


def test_429_waits_until_the_rate_limit_resets(adapter, rsps):
    reset = int(time.time()) + 40
    rsps.get(tg.VARIANTS, status=429, headers={"X-Rate-Limit-Reset": str(reset)})

    with pytest.raises(NotProcessed) as info:
        adapter.levels(LevelsQuery())

    assert info.value.code == "too_many_requests"
    assert 30 <= info.value.retry_after <= 40
    assert len(rsps.calls) == 1  # beyond the retry-after cap: not waited


def test_429_reset_is_measured_on_tradegeckos_clock(adapter, rsps):
    # TradeGecko's clock is an hour behind ours: the reset, 20 s after its
    # Date, is 20 s away, not in the past.
    server = time.time() - 3600
    headers = {
        "Date": formatdate(server, usegmt=True),
        "X-Rate-Limit-Reset": str(int(server) + 20),
    }
    rsps.get(tg.VARIANTS, status=429, headers=headers)

    with pytest.raises(NotProcessed) as info:
        adapter.levels(LevelsQuery())

    assert 18 <= info.value.retry_after <= 21


@pytest.mark.parametrize(
    ("reset", "expected"),
    [
        ("inf", "ceiling"),
        ("1e400", "ceiling"),
        ("99999999999", "ceiling"),
        ("-inf", 1.0),
        ("-5", 1.0),
        ("0", 1.0),
        ("nan", 1.0),
        ("soon", 1.0),
        ("", 1.0),
    ],
)
def test_an_absurd_rate_limit_reset_is_a_bounded_wait(
    adapter, rsps, settings, reset, expected
):
    # Unbounded, it overflowed the forward's next attempt time; bounded by
    # the shared Retry-After parser, so the ceiling is the one every
    # provider's wait has, and a past or unreadable reset waits a second.
    rsps.get(tg.VARIANTS, status=429, headers={"X-Rate-Limit-Reset": reset})

    with pytest.raises(NotProcessed) as info:
        adapter.levels(LevelsQuery())

    ceiling = float(settings.BREAKER_MAX_RETRY_AFTER_SECONDS)
    assert info.value.retry_after == (ceiling if expected == "ceiling" else expected)


def test_5xx_on_a_read_is_retried(adapter, rsps):
    rsps.get(tg.VARIANTS, status=503, body="timeout")
    tg.answer(rsps, "GET", tg.VARIANTS, "variants_last_page.json")

    assert adapter.levels(LevelsQuery(cursor="2")).records
    assert ProviderCall.objects.get().attempts == 2


def test_402_lapsed_subscription_is_not_processed(adapter, rsps):
    rsps.get(tg.VARIANTS, status=402, json={"message": "Payment Required"})

    with pytest.raises(NotProcessed) as info:
        adapter.levels(LevelsQuery())
    assert info.value.code == "subscription_lapsed"


def test_purchase_order_posts_once_per_external_id(adapter, rsps):
    request = tg.po_create_idempotent(rsps, adapter.account)

    result = adapter.purchase_order_upsert(request)

    assert result.external_reference == "28381"
    assert result.status == PurchaseOrderStatus.SENT
    post = next(c.request for c in rsps.calls if c.request.method == "POST")
    assert post.headers["Idempotency-Key"] == "po-PO0435"
    order = json.loads(post.body)["purchase_order"]
    assert order["company_id"] == 633468 and order["stock_location_id"] == 159
    assert order["reference_number"] == "PO0435"
    assert order["purchase_order_line_items"] == [
        {"variant_id": 593558, "quantity": "10", "price": "20.00"}
    ]


def test_purchase_order_5xx_is_retried_with_the_same_key(adapter, rsps):
    request = tg.po_create_idempotent(rsps, adapter.account)
    created = tg.load("purchase_order_created.json")["body"]
    rsps.replace(responses.POST, f"{tg.BASE}/purchase_orders", status=500)
    rsps.add(responses.POST, f"{tg.BASE}/purchase_orders", status=201, json=created)

    adapter.purchase_order_upsert(request)

    keys = [
        c.request.headers["Idempotency-Key"]
        for c in rsps.calls
        if c.request.method == "POST"
    ]
    assert keys == ["po-PO0435", "po-PO0435"]


def test_purchase_order_422_names_the_refused_fields(adapter, rsps):
    request = tg.po_create_idempotent(rsps, adapter.account)
    invalid = tg.load("products_new_invalid.json")
    rsps.replace(
        responses.POST, f"{tg.BASE}/purchase_orders", status=422, json=invalid["body"]
    )

    with pytest.raises(Rejected) as info:
        adapter.purchase_order_upsert(request)
    assert info.value.code == "invalid_request"
    assert "name can't be blank" in str(info.value)


def test_purchase_order_for_an_unknown_sku_is_refused(adapter, rsps):
    rsps.get(tg.VARIANTS, json={"variants": []})
    request = tg.po_create_idempotent(responses.RequestsMock(), adapter.account)

    with pytest.raises(Rejected) as info:
        adapter.purchase_order_upsert(request)
    assert info.value.code == "unknown_sku"


@pytest.mark.parametrize(
    ("status", "procurement", "ours"),
    [
        ("draft", "unprocured", "draft"),
        ("active", "procured", "received"),
        ("void", "unprocured", "cancelled"),
    ],
)
def test_purchase_order_statuses(adapter, rsps, status, procurement, ours):
    order = tg.load("purchase_order_created.json")["body"]["purchase_order"]
    order.update(status=status, procurement_status=procurement)
    rsps.get(f"{tg.BASE}/purchase_orders/28381", json={"purchase_order": order})

    assert adapter.purchase_order_status("28381").status == ours


def test_webhook_is_verified_and_read_back(adapter, rsps):
    hook = tg.webhook_valid(rsps, adapter.account)

    [message] = adapter.webhook_messages(body=hook.body, headers=hook.headers, url="")
    event = adapter.parse_inventory_event(message)

    assert message.dedupe_key == hook.headers["X-Gecko-Delivery"]
    assert message.occurred_at is not None
    assert tuple((r.sku, r.location_code, r.on_hand) for r in event.levels) == tuple(
        (r.sku, r.location_code, r.on_hand) for r in hook.levels
    )


def test_webhook_with_a_changed_body_is_forged(adapter):
    hook = tg.webhook_valid(responses.RequestsMock(), adapter.account)
    tampered = hook.body.replace(b"variant.update", b"variant.create")

    with pytest.raises(WebhookVerificationError) as info:
        adapter.webhook_messages(body=tampered, headers=hook.headers, url="")
    assert info.value.code == WebhookVerificationError.FORGED


def test_webhook_without_a_secret_is_refused(adapter):
    adapter.account.set_credentials({"access_token": "contract-token"})
    adapter.account.save()
    hook = tg.webhook_valid(responses.RequestsMock(), adapter.account)

    with pytest.raises(WebhookVerificationError) as info:
        adapter.webhook_messages(body=hook.body, headers=hook.headers, url="")
    assert info.value.code == WebhookVerificationError.MISSING_SECRET


def test_event_for_a_deleted_variant_names_it_gone_with_no_levels(adapter, rsps):
    hook = tg.webhook_valid(responses.RequestsMock(), adapter.account)
    [message] = adapter.webhook_messages(body=hook.body, headers=hook.headers, url="")
    variant_id = message.payload["object_id"]
    rsps.get(f"{tg.VARIANTS}/{variant_id}", status=404, json={"message": "Not Found"})

    event = adapter.parse_inventory_event(message)
    assert (event.levels, event.rejected) == ((), ())
    assert event.gone == f"variant {variant_id}"


def test_other_events_are_not_inventory(adapter):
    hook = tg.webhook_valid(responses.RequestsMock(), adapter.account)
    body = hook.body.replace(b"variant.update", b"invoice.create")
    headers = {**hook.headers, "X-Gecko-Signature": tg.signed(body)}

    [message] = adapter.webhook_messages(body=body, headers=headers, url="")
    assert adapter.parse_inventory_event(message) is None


def test_read_timeout_is_unknown(adapter, rsps):
    rsps.get(tg.VARIANTS, body=requests.ReadTimeout("slow"))
    rsps.get(tg.VARIANTS, body=requests.ReadTimeout("slow"))

    with pytest.raises(Unknown) as info:
        adapter.levels(LevelsQuery())
    assert info.value.code == "read_timeout"


def test_a_failed_page_can_be_stepped_past(adapter):
    from inventory.providers.base import LevelsQuery, offset_from_cursor

    after = adapter.cursor_after(LevelsQuery(limit=50))
    # page 1 failed: go on with page 2 (the cursor's first part is the page)
    assert offset_from_cursor(after.split(":")[0]) == 2
    later = adapter.cursor_after(LevelsQuery(cursor=after))
    assert offset_from_cursor(later.split(":")[0]) == 3


@pytest.mark.parametrize("odd_sku", [["GECKO-BARSTOOL"], {"x": 1}, 7, None])
def test_a_variant_whose_sku_is_not_text_is_left_out_of_a_sku_filtered_page(
    adapter, rsps, odd_sku
):
    """The ERP sends a SKU that is a list, an object or a number: asked for
    named SKUs, the page keeps the wanted ones and leaves that variant out
    (no SKU of ours is anything but text) instead of failing the page."""
    fixture = tg.load("variants_first_page.json")
    variants = fixture["body"]["variants"]
    variants[1]["sku"] = odd_sku
    rsps.get(tg.VARIANTS, json=fixture["body"])
    wanted = variants[0]["sku"]

    page = adapter.levels(LevelsQuery(skus=(wanted, "GECKO-BARSTOOL")))

    assert page.records and {r.sku for r in page.records} <= {wanted, "GECKO-BARSTOOL"}
    assert wanted in {r.sku for r in page.records}


@pytest.mark.parametrize("bad", [("A", ["B"]), ("A", 7), ("A", "")])
def test_a_sku_filter_that_is_not_text_is_refused_before_any_call(adapter, rsps, bad):
    with pytest.raises(Rejected) as refused:
        adapter.levels(LevelsQuery(skus=bad))

    assert refused.value.code == "invalid_request"
    assert len(rsps.calls) == 0
