"""Set-up shared by the carrier state tests (test_ship40_* to test_ship46_*):
a quote or a label at UPS and a pickup at FedEx over their fixtures, each
returning the answer and what was sent to the carrier; every carrier's
harness, a request's US states rewritten, and what went over the wire."""

import json
from dataclasses import replace

import pytest
import responses

from integrations import registry
from integrations.models import ProviderCall
from shipping.api_examples import PICKUP_REQUEST, RATE_REQUEST
from shipping.providers.base import Address
from shipping.providers.validation import InvalidShippingRequest
from tests.shipping.contract import (
    harness_dhl_express,
    harness_fedex,
    harness_sandbox,
    harness_shippo,
    harness_ups,
    harness_usps,
)
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import (
    PICKUPS,
    SHIPMENTS,
    abroad,
    post_as_writer,
    stored_quote,
)

FEDEX_PICKUP = f"{harness_fedex.BASE}/pickup/v1/pickups"
# The carriers over the wire, and with the sandbox (no wire) every one.
WIRED = (harness_ups, harness_fedex, harness_dhl_express, harness_shippo, harness_usps)
EVERY = (*WIRED, harness_sandbox)


def with_us_states(request, states: dict[str, str]):
    """``request`` with each US address's state code that ``states`` names
    written as it says ({"TN": "Tennessee"}): the same state, other words."""

    def written(address: Address) -> Address:
        if address.country_code != "US" or address.state_code not in states:
            return address
        return replace(address, state_code=states[address.state_code])

    return replace(
        request,
        from_address=written(request.from_address),
        to_address=written(request.to_address),
    )


def state_request(country: str, state: str, postal_code: str = ""):
    """A quote's request to the contract's recipient in ``country`` with
    ``state`` (and ``postal_code`` when given), with customs outside the US."""
    changes = {"country_code": country, "state_code": state}
    if postal_code:
        changes["postal_code"] = postal_code
    request = shared.rate_request(to_address=replace(shared.RECIPIENT, **changes))
    return request if country == "US" else replace(request, customs=shared.CUSTOMS)


def quote_and_label_sent(harness, states: dict[str, str]) -> list[str]:
    """A quote and a label at a new account of ``harness``'s carrier, over
    its fixtures, their US states written as ``states`` says
    (``with_us_states``): what went over the wire (``wire_texts``)."""
    account = harness.make_account()
    adapter = registry.get_adapter(account)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        quote = with_us_states(harness.rates(mocked, account), states)
        assert adapter.rates(quote)
        label = with_us_states(harness.label(mocked, account), states)
        assert adapter.create_label(label).tracking_number
        return wire_texts(mocked)


def assert_sent_as_codes(harness, states: dict[str, str]) -> None:
    """A quote and a label whose US states are written as ``states`` says
    reach ``harness``'s carrier as the codes only (TN), never as written."""
    sent = quote_and_label_sent(harness, states)
    for written in states.values():
        assert not [text for text in sent if written.casefold() in text.casefold()]
    assert [text for text in sent if '"TN"' in text or "=TN" in text]


def assert_passes_every_check(harness, cases) -> None:
    """A quote to the contract's recipient in each (country, state[,
    postcode]) of ``cases`` passes ``harness``'s carrier's checks."""
    adapter = registry.get_adapter(harness.make_account())
    for case in cases:
        adapter.check_shipment(state_request(*case))  # no refusal


def check_refused(harness, country: str, state: str, postal_code: str = ""):
    """The refusal (``InvalidShippingRequest``) of ``harness``'s carrier's
    checks for a quote to ``state_request(country, state, postal_code)``."""
    adapter = registry.get_adapter(harness.make_account())
    with pytest.raises(InvalidShippingRequest) as refused:
        adapter.check_shipment(state_request(country, state, postal_code))
    return refused.value


def pickup_and_check_states_sent(states: dict[str, str], key: str) -> list[str]:
    """A UPS pickup, a FedEx pickup and a UPS address check, each booked or
    asked (a 201, a 201, a 200) with the state ``states`` gives for it
    ("ups_pickup", "fedex_pickup", "ups_check"; keys under ``key``): the
    state each carrier was sent, in that order."""
    from shipping.api_examples import ADDRESS_FROM, ADDRESS_TO
    from tests.shipping.helpers import ups_address_check, ups_pickup

    sent = []
    if "ups_pickup" in states:
        reply, [ups] = ups_pickup({"state_code": states["ups_pickup"]}, f"{key}-ups")
        assert reply.status_code == 201, reply.json()
        sent.append(ups["StateProvince"])
    if "fedex_pickup" in states:
        address = ADDRESS_FROM | {"state_code": states["fedex_pickup"]}
        reply, [body] = fedex_pickup(address, f"{key}-fx")
        assert reply.status_code == 201, reply.json()
        sent.append(
            body["originDetail"]["pickupLocation"]["address"]["stateOrProvinceCode"]
        )
    if "ups_check" in states:
        address = ADDRESS_TO | {"state_code": states["ups_check"]}
        reply, [check] = ups_address_check(address)
        assert reply.status_code == 200, reply.json()
        sent.append(check["PoliticalDivision1"])
    return sent


def invalid_state_messages(harness, state: str) -> list[str]:
    """A quote and a label to the contract's US recipient with ``state``,
    each refused as ``invalid_state`` naming to_address.state_code before
    any call at ``harness``'s carrier: their messages."""
    to_address = replace(shared.RECIPIENT, state_code=state)
    messages = []
    for error in quote_and_label_refused(harness, to_address):
        assert (error.param, error.code) == ("to_address.state_code", "invalid_state")
        messages.append(error.message)
    return messages


def quote_and_label_refused(harness, to_address: Address) -> list:
    """A quote and a label to ``to_address`` at a new account of
    ``harness``'s carrier, each refused before any call: their refusals
    (``InvalidShippingRequest``)."""
    account = harness.make_account()
    adapter = registry.get_adapter(account)
    refusals = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        label = replace(harness.label(mocked, account), to_address=to_address)
        quote = shared.rate_request(to_address=to_address)
        for operation, request in (
            (adapter.rates, quote),
            (adapter.create_label, label),
        ):
            with pytest.raises(InvalidShippingRequest) as refused:
                operation(request)
            refusals.append(refused.value)
        assert len(mocked.calls) == 0
    assert not ProviderCall.objects.filter(account=account).exists()
    return refusals


def wire_texts(mocked: responses.RequestsMock) -> list[str]:
    """What went to the carrier: each call's URL (a GET's query) and body."""
    texts = []
    for call in mocked.calls:
        body = call.request.body or b""
        body = body.decode() if isinstance(body, bytes) else str(body)
        texts.append(f"{call.request.url} {body}")
    return texts


def shipped_from(origin: dict) -> dict:
    """The API's example rate request abroad (``helpers.abroad``), sent
    from ``origin``."""
    body = abroad(RATE_REQUEST["to_address"])
    body["from_address"] = origin
    return body


def ups_quote(body: dict, post=post_as_writer) -> tuple[object, dict | None]:
    """POST ``body`` for quotes (by ``post``) at a new UPS account, abroad
    with phones (``with_phones_abroad``): (the answer, the RateRequest's
    Shipment sent to UPS; None if refused before)."""
    harness_ups.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_ups.rates(mocked, None)
        reply = post(with_phones_abroad(body))
        sent = [
            json.loads(c.request.body)["RateRequest"]["Shipment"]
            for c in mocked.calls
            if c.request.url == harness_ups.RATES_URL
        ]
    return reply, sent[0] if sent else None


def with_phones_abroad(body: dict) -> dict:
    """A rate ``body`` between two countries with a phone on each party that
    has none (the contract's), as UPS requires on a shipment abroad; any
    other body as given."""
    sides = {"from_address": shared.SHIPPER.phone, "to_address": shared.RECIPIENT.phone}
    if body["from_address"]["country_code"] == body["to_address"]["country_code"]:
        return body
    given = {side: body[side] for side in sides if body[side].get("phone")}
    return (
        body
        | {side: body[side] | {"phone": phone} for side, phone in sides.items()}
        | given
    )


def ups_label(
    to_address: dict, key: str, customs=shared.CUSTOMS
) -> tuple[object, dict | None]:
    """Buy a label under Idempotency-Key ``key`` at a UPS quote stored for
    ``to_address``: (the answer, the ShipmentRequest's Shipment sent to UPS;
    None if refused before)."""
    recipient = Address(
        **{**to_address, "street_lines": tuple(to_address["street_lines"])}
    )
    request = shared.rate_request(to_address=recipient, customs=customs)
    quote = stored_quote(
        harness_ups.make_account(),
        request,
        fingerprint="4" * 64,
        carrier="ups",
        service_code="07",
        service_name="UPS Worldwide Express",
        amount=5400,
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_ups.label(mocked, None)
        reply = post_as_writer(
            {"quote_id": quote.public_id}, SHIPMENTS, HTTP_IDEMPOTENCY_KEY=key
        )
        sent = [
            json.loads(c.request.body)["ShipmentRequest"]["Shipment"]
            for c in mocked.calls
            if c.request.url == harness_ups.SHIP_URL
        ]
    return reply, sent[0] if sent else None


def fedex_pickup(address: dict, key: str) -> tuple[object, list[dict]]:
    """POST a pickup at ``address`` under Idempotency-Key ``key`` at a new
    FedEx account: (the answer, each request body sent to FedEx's pickup)."""
    account = harness_fedex.make_account()
    body = PICKUP_REQUEST | {"account": account.slug, "address": address}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(
            harness_fedex.TOKEN_URL, json=harness_fedex.load("oauth_token.json")
        )
        mocked.post(FEDEX_PICKUP, json=harness_fedex.load("pickup_response.json"))
        reply = post_as_writer(body, PICKUPS, HTTP_IDEMPOTENCY_KEY=key)
        calls = [c for c in mocked.calls if c.request.url == FEDEX_PICKUP]
    return reply, [json.loads(c.request.body) for c in calls]
