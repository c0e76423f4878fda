"""Shipping test helpers: sandbox carrier accounts and a shopped quote."""

from integrations.models import ProviderAccount
from shipping import services
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests


def carrier(slug: str, priority: int = 10, **settings: object) -> ProviderAccount:
    return ProviderAccountFactory(
        kind="shipping",
        provider="sandbox",
        slug=slug,
        display_name=slug.replace("-", " ").title(),
        priority=priority,
        settings=settings,
    )


def fedex_account() -> ProviderAccount:
    """The FedEx sandbox account ``fedex-main``, tried once a call, its
    breaker far off."""
    return ProviderAccountFactory(
        kind="shipping",
        provider="fedex",
        slug="fedex-main",
        settings={
            "account_number": "740561073",
            "max_attempts": 1,
            "breaker_consecutive_failures": 50,
        },
        credentials={"client_id": "k", "client_secret": "fedex-secret-do-not-log"},
    )


def shop(**overrides: object) -> services.RateShopResult:
    return services.rates_shop(request=requests.rate_request(**overrides))


def scheduled_pickup(account: ProviderAccount, confirmation: str, **values: object):
    """A pickup the carrier booked under ``confirmation``, for cancel tests:
    for tomorrow unless told (a past day is refused before any cancel)."""
    from datetime import UTC, time, timedelta
    from decimal import Decimal

    from integrations.clock import database_now
    from shipping import codec
    from shipping.models import Pickup, PickupStatus

    fields = {
        "account": account,
        "pickup_date": database_now().astimezone(UTC).date() + timedelta(days=1),
        "ready_time": time(9, 0),
        "close_time": time(17, 0),
        "address": codec.address_to_json(requests.SHIPPER),
        "parcel_count": 1,
        "total_weight": Decimal("2"),
        "idempotency_key": f"pickup-{confirmation}",
        "status": PickupStatus.SCHEDULED,
        "confirmation_number": confirmation,
        **values,
    }
    return Pickup.objects.create(**fields)


def bought_shipment(account: ProviderAccount, n: int, parcels=None, **changes):
    """A shipment whose label was bought at ``account`` from the contract's
    shipper to its recipient (tracking number SBX and ``n``), ``changes``
    over its fields."""
    from shipping import codec
    from shipping.models import Shipment, ShipmentStatus

    fields = {
        "account": account,
        "from_address": codec.address_to_json(requests.SHIPPER),
        "to_address": codec.address_to_json(requests.RECIPIENT),
        "parcels": [codec.parcel_to_json(p) for p in parcels or (requests.PARCEL,)],
        "carrier": "Sandbox",
        "service_code": "ground",
        "amount": 790,
        "currency": "USD",
        "idempotency_key": f"admin-pickup-test-{n}",
        "status": ShipmentStatus.PURCHASED,
        "tracking_number": f"SBX{n:08d}",
        "carrier_shipment_id": f"SBX{n:08d}",
        **changes,
    }
    return Shipment.objects.create(**fields)


def usps_bought_from_shipper(**changes):
    """A Priority Mail label bought at a new USPS account from the contract's
    shipper (no email), ``changes`` over the shipment's fields."""
    from tests.shipping.contract import harness_usps

    number = "9400100000000000000001"
    values = {"carrier": "USPS", "service_code": "PRIORITY_MAIL"}
    values |= {"tracking_number": number, "carrier_shipment_id": number}
    return bought_shipment(harness_usps.make_account(), 1, **values | changes)


def weekday_after_tomorrow():
    """The first weekday from the day after tomorrow (local date): a day
    every carrier collects on."""
    from datetime import timedelta

    from django.utils import timezone

    day = timezone.localdate() + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def pickup_day(days: int):
    """Today (UTC, the database's clock, as the booking window reads it)
    moved by ``days``."""
    from datetime import UTC, timedelta

    from integrations.clock import database_now

    return database_now().astimezone(UTC).date() + timedelta(days=days)


def api_client(*scopes: str, raise_request_exception: bool = True):
    """A storefront API client whose key holds ``scopes`` (a server error
    an answer, not raised, with ``raise_request_exception=False``)."""
    from rest_framework.test import APIClient

    from tests.factories import ApiKeyFactory

    client = APIClient(raise_request_exception=raise_request_exception)
    key = ApiKeyFactory(scopes=list(scopes))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


def void_by_api(shipment, key: str):
    """POST the void of ``shipment`` under Idempotency-Key ``key``."""
    return api_client("shipping:read", "shipping:write").post(
        f"/api/v1/shipping/shipments/{shipment.public_id}/void/",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def ups_pickup(address_changes: dict, key: str) -> tuple[object, list[dict]]:
    """POST a pickup at a new UPS account (the API example's address with
    ``address_changes``) over UPS's fixtures: (the answer, each
    PickupAddress sent to UPS; none when refused before the call)."""
    import json

    import responses

    from shipping.api_examples import ADDRESS_FROM, PICKUP_REQUEST
    from tests.shipping.contract import harness_ups

    url = f"{harness_ups.BASE}/api/pickupcreation/v2409/pickup"
    account = harness_ups.make_account()
    address = {**ADDRESS_FROM, **address_changes}
    body = PICKUP_REQUEST | {"account": account.slug, "address": address}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(harness_ups.TOKEN_URL, json=harness_ups.load("oauth_token.json"))
        mocked.post(url, json=harness_ups.load("pickup_response.json"))
        api = api_client("shipping:read", "shipping:write")
        reply = api.post(
            "/api/v1/shipping/pickups/", body, format="json", HTTP_IDEMPOTENCY_KEY=key
        )
        calls = [c for c in mocked.calls if c.request.url == url]
    sent = [json.loads(c.request.body)["PickupCreationRequest"] for c in calls]
    return reply, [request["PickupAddress"] for request in sent]


# Set-up shared by the carrier field-limit tests (test_ship38*, test_r_ship38*).
RATES = "/api/v1/shipping/rates/"
SHIPMENTS = "/api/v1/shipping/shipments/"
PICKUPS = "/api/v1/shipping/pickups/"
ADDRESSES = "/api/v1/shipping/addresses/validate/"
CUSTOMS = {
    "items": [
        {
            "description": "Cotton T-shirt",
            "quantity": 2,
            "value": 1500,
            "currency": "USD",
            "weight": "0.300",
            "origin_country": "US",
            "hs_code": "610910",
        }
    ]
}
SYDNEY = {
    "name": "Bruce Buyer",
    "street_lines": ["1 George Street"],
    "city": "Sydney",
    "state_code": "NSW",
    "postal_code": "2000",
    "country_code": "AU",
}


def merchandise(hs_code: str = "610910") -> dict:
    """A customs declaration of merchandise: CUSTOMS's one item with
    ``hs_code``."""
    return {
        "contents_type": "merchandise",
        "items": [{**CUSTOMS["items"][0], "hs_code": hs_code}],
    }


def abroad(to_address: dict, hs_code: str = "610910") -> dict:
    """The API's example rate request sent to ``to_address`` with
    ``merchandise(hs_code)``."""
    import copy

    from shipping.api_examples import RATE_REQUEST

    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"] = copy.deepcopy(to_address)
    body["customs"] = merchandise(hs_code)
    return body


def post_as_writer(body: dict, path: str = RATES, **headers):
    """POST ``body`` as JSON with a key that may read and write shipping."""
    api = api_client("shipping:read", "shipping:write")
    return api.post(path, body, format="json", **headers)


def refused(reply, param: str, code: str, *words: str) -> dict:
    """Assert ``reply`` is our 400 refusal of ``param`` with ``code``, its
    message holding each of ``words``, before any provider call: its error."""
    from integrations.models import ProviderCall

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == (param, code)
    for word in words:
        assert word in error["message"]
    assert not ProviderCall.objects.exists()
    return error


def stored_quote(account: ProviderAccount, request, **fields: object):
    """A quote stored at ``account`` for ``request`` (a RateRequest), good
    for ten minutes; ``fields`` name its carrier and service (and may set
    any other: its amount, its fingerprint)."""
    from datetime import timedelta

    from django.utils import timezone

    from shipping import codec
    from shipping.models import RateQuote

    values = {
        "account": account,
        "amount": 1234,
        "currency": "USD",
        "request": codec.request_to_json(request),
        "expires_at": timezone.now() + timedelta(minutes=10),
        **fields,
    }
    return RateQuote.objects.create(**values)


def quoted_over(harness, body: dict):
    """POST ``body`` for quotes, ``harness``'s carrier answering from its
    fixtures: the answer."""
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness.rates(mocked, None)
        return post_as_writer(body)


def label_bought(harness, quote, key: str) -> tuple[object, list]:
    """Buy a label at ``quote`` under Idempotency-Key ``key``, ``harness``'s
    carrier answering from its fixtures: (the answer, each call to its ship
    URL)."""
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness.label(mocked, None)
        reply = post_as_writer(
            {"quote_id": quote.public_id}, SHIPMENTS, HTTP_IDEMPOTENCY_KEY=key
        )
        calls = [c for c in mocked.calls if c.request.url == harness.SHIP_URL]
    return reply, calls


def ups_address_check(address: dict) -> tuple[object, list[dict]]:
    """Check ``address`` at a new UPS account over UPS's fixtures: (the
    answer, each AddressKeyFormat sent to UPS)."""
    import json

    import responses

    from tests.shipping.contract import harness_ups

    url = f"{harness_ups.BASE}/api/addressvalidation/v2/3"
    account = harness_ups.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(harness_ups.TOKEN_URL, json=harness_ups.load("oauth_token.json"))
        mocked.post(url, json=harness_ups.load("address_valid.json"))
        reply = post_as_writer({"account": account.slug, "address": address}, ADDRESSES)
        calls = [c for c in mocked.calls if c.request.url == url]
    sent = [json.loads(c.request.body)["XAVRequest"] for c in calls]
    return reply, [request["AddressKeyFormat"] for request in sent]


# Carrier Pickup's contact (minItems 1): USPS pickups need an email.
USPS_PICKUP_EMAIL = "dock@switchyard.example"


def usps_pickup(
    address_changes: dict, key: str, **fields: object
) -> tuple[object, list[dict]]:
    """POST a pickup at a new USPS account (the API example's address with
    a contact email, then ``address_changes``; ``fields`` over the example
    request) over USPS's fixtures: (the answer, each request body sent to
    Carrier Pickup; none when refused before the call)."""
    import json

    import responses

    from shipping.api_examples import ADDRESS_FROM, PICKUP_REQUEST
    from tests.shipping.contract import harness_usps

    url = f"{harness_usps.BASE}/pickup/v3/carrier-pickup"
    account = harness_usps.make_account()
    address = {**ADDRESS_FROM, "email": USPS_PICKUP_EMAIL, **address_changes}
    body = PICKUP_REQUEST | {"account": account.slug, "address": address} | fields
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(harness_usps.TOKEN_URL, json=harness_usps.load("oauth_token.json"))
        mocked.post(url, json=harness_usps.load("pickup_response.json"))
        reply = post_as_writer(body, PICKUPS, HTTP_IDEMPOTENCY_KEY=key)
        calls = [c for c in mocked.calls if c.request.url == url]
    return reply, [json.loads(c.request.body) for c in calls]


def usps_address_check(address: dict, answer: dict | None = None):
    """Check ``address`` at a new USPS account, USPS answering ``answer``
    (none: ``{}``): (the answer, each request sent to GET /address)."""
    import responses

    from tests.shipping.contract import harness_usps

    url = f"{harness_usps.BASE}/addresses/v3/address"
    account = harness_usps.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(harness_usps.TOKEN_URL, json=harness_usps.load("oauth_token.json"))
        mocked.get(url, json=answer if answer is not None else {})
        reply = post_as_writer({"account": account.slug, "address": address}, ADDRESSES)
        calls = [c.request for c in mocked.calls if c.request.url.startswith(url)]
    return reply, calls


def usps_international_label(**overrides: object) -> dict:
    """Buy a USPS Priority Mail International label (to the contract's
    German recipient with its customs, then ``overrides``) at a new account
    over USPS's fixtures: the body sent to the International Labels API,
    its numbers as ``Decimal``."""
    import responses

    from shipping.providers.usps import USPSAdapter
    from tests.shipping.contract import harness_usps
    from tests.shipping.providers.wire import exact_body, sent

    url = f"{harness_usps.BASE}/international-labels/v3/international-label"
    values = {
        "to_address": requests.ABROAD,
        "customs": requests.CUSTOMS,
        "carrier_rate_id": "PRIORITY_MAIL_INTERNATIONAL|SP|NON_MACHINABLE",
        **overrides,
    }
    request = requests.label_request("PRIORITY_MAIL_INTERNATIONAL", **values)
    adapter = USPSAdapter(harness_usps.make_account())
    answer = harness_usps.FIXTURES / "international_label_response.multipart"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(harness_usps.TOKEN_URL, json=harness_usps.load("oauth_token.json"))
        mocked.post(
            f"{harness_usps.BASE}/payments/v3/payment-authorization",
            json=harness_usps.load("payment_authorization.json"),
        )
        mocked.post(url, body=answer.read_bytes(), content_type=harness_usps.MULTIPART)
        adapter.create_label(request)
        [call] = sent(mocked, "POST", url)
    return exact_body(call)
