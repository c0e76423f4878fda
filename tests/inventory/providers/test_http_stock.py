"""The generic HTTP stock service adapter against answers shaped as its spec
says (tests/fixtures/http_stock/): the configurable auth header, batches of
50 SKUs, holds by reference, 409 naming the SKU, 429, 5xx and Standard
Webhooks."""

from datetime import datetime

import pytest
import requests
import responses

from integrations.errors import ConfigurationError, NotProcessed, Rejected, Unknown
from integrations.models import ProviderCall
from integrations.webhooks.messages import WebhookMessage
from integrations.webhooks.verification import WebhookVerificationError
from inventory.providers.base import LevelsQuery, PurchaseOrderRequest
from inventory.providers.http_stock import HttpStockAdapter
from tests.inventory.contract import harness_http_stock as hs

pytestmark = pytest.mark.django_db

FAST = {
    "max_attempts": 2,
    "backoff_base_seconds": 0.001,
    "backoff_cap_seconds": 0.001,
    "retry_after_cap_seconds": 0.5,
}


@pytest.fixture
def adapter() -> HttpStockAdapter:
    account = hs.make_account()
    account.settings = dict(FAST)
    account.save()
    return HttpStockAdapter(account)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_levels_ask_for_named_skus_with_a_bearer_key(adapter, rsps):
    rsps.get(hs.LEVELS, json=hs.load("levels.json"))

    page = adapter.levels(LevelsQuery(skus=("WIDGET-RED", "WIDGET-BLUE")))

    sent = rsps.calls[0].request
    assert sent.headers["Authorization"] == "Bearer contract-stock-key"
    assert sent.url == f"{hs.LEVELS}?sku=WIDGET-RED&sku=WIDGET-BLUE"
    assert [(r.sku, r.location_code, r.on_hand) for r in page.records] == [
        ("WIDGET-RED", "main", 42),
        ("WIDGET-RED", "overflow", 7),
        ("WIDGET-BLUE", "main", 0),
    ]
    assert page.records[0].modified_at.isoformat() == "2026-12-04T09:30:00+00:00"
    assert not page.has_more


def test_more_than_50_skus_go_in_batches_of_50(adapter, rsps):
    rsps.get(hs.LEVELS, json={"levels": []})

    first = adapter.levels(LevelsQuery(skus=hs.SKUS, limit=500))
    second = adapter.levels(LevelsQuery(skus=hs.SKUS, limit=500).next(first))

    asked = [c.request.url.count("sku=") for c in rsps.calls]
    assert asked == [50, 10]
    assert (first.has_more, first.next_cursor, second.has_more) == (True, "50", False)


def test_custom_header_and_no_scheme(adapter, rsps):
    adapter.account.settings = {
        **FAST,
        "auth_header": "X-Api-Key",
        "auth_scheme": "none",
    }
    adapter.account.save()
    rsps.get(hs.LEVELS, json={"levels": []})

    adapter.levels(LevelsQuery(skus=("A",)))

    headers = rsps.calls[0].request.headers
    assert headers["X-Api-Key"] == "contract-stock-key"
    assert "Authorization" not in headers


@pytest.mark.parametrize(
    ("settings", "credentials"),
    [
        ({"auth_header": "X-Key\r\nX-Evil: 1"}, {}),
        ({}, {"base_url": "ftp://stock.shop.example"}),
        ({}, {"base_url": ""}),
        ({}, {"api_key": ""}),
    ],
)
def test_bad_configuration_sends_nothing(adapter, rsps, settings, credentials):
    adapter.account.settings = {**FAST, **settings}
    adapter.account.set_credentials({**adapter.credentials, **credentials})
    adapter.account.save()

    with pytest.raises(ConfigurationError):
        adapter.levels(LevelsQuery(skus=("A",)))
    assert len(rsps.calls) == 0


def test_levels_without_skus_are_refused_before_any_call(adapter, rsps):
    with pytest.raises(Rejected):
        adapter.levels(LevelsQuery())
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"sku": "A", "location": "main"},
        "x",
        {"on_hand": 1},
        {"sku": "A", "location": "main", "on_hand": 3.0},
        {"sku": "A", "location": None, "on_hand": 3},
    ],
)
def test_a_malformed_level_is_a_rejected_level_not_a_failed_batch(adapter, rsps, bad):
    good = {"sku": "B", "location": "main", "on_hand": 2}
    rsps.get(hs.LEVELS, json={"levels": [bad, good]})

    page = adapter.levels(LevelsQuery(skus=("A", "B")))

    assert [r.sku for r in page.records] == ["B"]
    assert len(page.rejected) == 1


def test_a_malformed_answer_is_unknown(adapter, rsps):
    rsps.get(hs.LEVELS, json={"levels": {"sku": "A"}})

    with pytest.raises(Unknown):
        adapter.levels(LevelsQuery(skus=("A",)))


def test_429_and_5xx(adapter, rsps):
    rsps.get(hs.LEVELS, status=429, headers={"Retry-After": "5"})
    with pytest.raises(NotProcessed) as info:
        adapter.levels(LevelsQuery(skus=("A",)))
    assert info.value.retry_after == 5.0

    rsps.replace(responses.GET, hs.LEVELS, status=502)
    rsps.add(responses.GET, hs.LEVELS, json={"levels": []})
    assert adapter.levels(LevelsQuery(skus=("A",))).records == ()
    assert ProviderCall.objects.order_by("-pk").first().attempts == 2


def test_reserve_sends_lines_and_key(adapter, rsps):
    request = hs.reserve_release(rsps, adapter.account)

    result = adapter.reserve(request)

    sent = rsps.calls[0].request
    assert sent.headers["Idempotency-Key"] == "contract-hold-1"
    assert result.external_reference == "res_9f2c1ab4"
    assert b'"lines": [{"sku": "WIDGET-RED", "location": "main", "quantity": 2}]' in (
        sent.body
    )


def test_reserve_retried_after_a_timeout_with_the_same_key(adapter, rsps):
    request = hs.reserve_release(rsps, adapter.account)
    held = hs.load("reservation.json")
    url = f"{hs.BASE}/reservations"
    rsps.replace(responses.POST, url, body=requests.ReadTimeout("slow"))
    rsps.add(responses.POST, url, status=201, json=held)

    adapter.reserve(request)

    keys = [c.request.headers["Idempotency-Key"] for c in rsps.calls]
    assert keys == ["contract-hold-1", "contract-hold-1"]


def test_insufficient_stock_names_the_sku(adapter, rsps):
    request = hs.reserve_release(rsps, adapter.account)
    refusal = hs.load("error_insufficient_stock.json")
    rsps.replace(responses.POST, f"{hs.BASE}/reservations", status=409, json=refusal)

    with pytest.raises(Rejected) as info:
        adapter.reserve(request)

    assert info.value.code == "insufficient_stock"
    assert "WIDGET-RED: 1 available" in str(info.value)


def test_releasing_an_unknown_hold_is_not_an_error(adapter, rsps):
    rsps.post(
        f"{hs.BASE}/reservations/rsv_gone/release",
        status=404,
        json={"error": {"code": "not_found", "message": "no such hold"}},
    )

    assert adapter.release(reference="rsv_gone", idempotency_key="k") is None


def test_purchase_orders_are_refused_without_a_call(adapter, rsps):
    request = PurchaseOrderRequest("po_1", "ACME", "main", "EUR", ())
    with pytest.raises(Rejected) as info:
        adapter.purchase_order_upsert(request)
    assert info.value.code == "not_supported"
    assert len(rsps.calls) == 0


def test_webhook_levels(adapter):
    hook = hs.webhook_valid(None, adapter.account)

    [message] = adapter.webhook_messages(body=hook.body, headers=hook.headers, url="")
    event = adapter.parse_inventory_event(message)

    assert message.dedupe_key == hook.headers["webhook-id"]
    assert [(r.sku, r.on_hand) for r in event.levels] == [
        ("WIDGET-RED", 40),
        ("WIDGET-BLUE", 12),
    ]
    assert event.occurred_at.isoformat() == "2026-12-04T09:31:02+00:00"


def test_webhook_signed_with_another_secret_or_stale_is_refused(adapter):
    forged = hs.webhook_forged(None, adapter.account)
    stale = hs.webhook_stale(None, adapter.account)
    for hook, code in (
        (forged, WebhookVerificationError.FORGED),
        (stale, WebhookVerificationError.STALE),
    ):
        with pytest.raises(WebhookVerificationError) as info:
            adapter.webhook_messages(body=hook.body, headers=hook.headers, url="")
        assert info.value.code == code


def test_other_event_types_are_ignored_and_bad_levels_refused(adapter):
    other = WebhookMessage.build(event_type="stock.audit", dedupe_key="m1", payload={})
    assert adapter.parse_inventory_event(other) is None

    broken = WebhookMessage.build(
        event_type="inventory.updated", dedupe_key="m2", payload={"data": {}}
    )
    with pytest.raises(Unknown):
        adapter.parse_inventory_event(broken)


def test_confirm_by_reference_and_a_lost_hold_is_not_found(adapter, rsps):
    url = f"{hs.BASE}/reservations/rsv_01JEXAMPLE/confirm"
    rsps.post(url, json=hs.load("reservation_confirmed.json"))

    adapter.confirm(reference="rsv_01JEXAMPLE", idempotency_key="confirm-1")

    assert rsps.calls[0].request.headers["Idempotency-Key"] == "confirm-1"
    rsps.replace("POST", url, status=404, json={"error": {"code": "not_found"}})
    with pytest.raises(Rejected) as info:
        adapter.confirm(reference="rsv_01JEXAMPLE", idempotency_key="confirm-1")
    assert info.value.code == "not_found"


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        ("2026-12-04T11:31:00.250Z", "2026-12-04T11:31:00.250+00:00"),
        ("2026-12-04T13:31:00+02:00", "2026-12-04T13:31:00+02:00"),
        (None, None),  # a service built before the field
        ("yesterday", None),
        ("2026-12-04T11:31:00", None),  # no offset: not a time we can place
        (1764847860, None),
    ],
)
def test_confirm_answers_the_services_own_time_of_it_when_given(
    adapter, rsps, sent, read
):
    url = f"{hs.BASE}/reservations/rsv_01JEXAMPLE/confirm"
    answer = hs.load("reservation_confirmed.json")
    if sent is not None:
        answer["confirmed_at"] = sent
    rsps.post(url, json=answer)

    result = adapter.confirm(reference="rsv_01JEXAMPLE", idempotency_key="confirm-1")

    expected = None if read is None else datetime.fromisoformat(read)
    assert result.confirmed_at == expected


def test_confirm_with_an_empty_answer_knows_no_time(adapter, rsps):
    url = f"{hs.BASE}/reservations/rsv_01JEXAMPLE/confirm"
    rsps.post(url, body="")

    result = adapter.confirm(reference="rsv_01JEXAMPLE", idempotency_key="confirm-1")

    assert result.confirmed_at is None
