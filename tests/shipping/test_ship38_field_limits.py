"""Carrier field limits checked at our API, not found out at the carrier
(issue 17, 9's rule). UPS publishes the longest text it takes per field
(Shipping.yaml, Rating.yaml: AddressLine 35, City 30, ...); our API takes
128. A quote or label at a carrier that cannot take a field is a 400 naming
the field and the carrier's limit, with nothing sent; in a shop across
carriers, that carrier is left out with its reason, as one a parcel is too
heavy for, and the others still quote.

FedEx's and DHL Express's published limits: test_ship38b_carrier_limits.
USPS and Shippo publish none we can cite: they are not limited."""

import copy

import pytest
import responses

from integrations.models import ProviderCall
from shipping.api_examples import RATE_REQUEST
from shipping.models import RateQuote, Shipment
from tests.shipping.contract import harness_fedex, harness_ups
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import (
    CUSTOMS,
    SHIPMENTS,
    carrier,
    post_as_writer,
    quoted_over,
    stored_quote,
)
from tests.shipping.state_cases import with_phones_abroad

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
ABROAD = {
    "name": "Grace Kunde",
    "street_lines": ["Hauptstrasse 5"],
    "city": "Berlin",
    "postal_code": "10115",
    "country_code": "DE",
    "phone": "+493055501234",
}


def _body(param: str, value: object) -> dict:
    """The example request with ``param`` (a path such as
    ``to_address.street_lines[0]``) set to ``value``."""
    body = copy.deepcopy(RATE_REQUEST)
    if param.startswith("customs."):
        body["to_address"] = copy.deepcopy(ABROAD)
        body["customs"] = copy.deepcopy(CUSTOMS)
        body = with_phones_abroad(body)  # UPS requires both abroad
    *parents, last = param.replace("]", "").replace("[", ".").split(".")
    node = body
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if last.isdigit():
        while len(node) <= int(last):
            node.append("Suite 1")
        node[int(last)] = value
    else:
        node[last] = value
    return body


TOO_LONG = [
    ("to_address.street_lines[0]", "7" * 36, 35),
    ("from_address.street_lines[1]", "B" * 36, 35),
    ("to_address.name", "N" * 36, 35),
    ("from_address.company", "C" * 36, 35),
    ("to_address.city", "S" * 31, 30),
    # A US state of 3 ("ILL") names none: invalid_state at every carrier
    # (test_ship46_us_state_forms; Rating's 2 is checked on a Canadian
    # province instead in test_r_ship43_states_every_carrier).
    # 10 digits even as sent (a ZIP+4's hyphen is not sent: test_r_ship38_as_sent)
    ("to_address.postal_code", "62704-12345", 9),
    ("to_address.phone", "+1217555019912345", 15),
    ("customs.items[0].description", "D" * 36, 35),
    ("customs.items[0].hs_code", "6" * 16, 15),
]


@pytest.mark.parametrize(
    ("param", "value", "limit"), TOO_LONG, ids=[case[0] for case in TOO_LONG]
)
def test_a_quote_at_ups_with_a_field_too_long_is_a_400_naming_it(param, value, limit):
    harness_ups.make_account()

    with responses.RequestsMock(assert_all_requests_are_fired=False):  # nothing out
        reply = post_as_writer(_body(param, value))

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == (param, "field_too_long")
    assert f"{limit} characters" in error["message"]
    assert "UPS" in error["message"]
    assert value not in error["message"]  # the buyer's text is not echoed
    assert not ProviderCall.objects.exists()


def test_a_field_within_the_limit_is_quoted_at_ups():
    harness_ups.make_account()

    reply = quoted_over(harness_ups, _body("to_address.street_lines[0]", "7" * 35))

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]
    assert reply.json()["failures"] == []


def test_a_shop_leaves_ups_out_with_its_reason_and_fedex_still_quotes():
    # A city of 31: over UPS's 30, within FedEx's 35 (Ship API PartyAddress).
    ups = harness_ups.make_account()
    fedex = harness_fedex.make_account()

    reply = quoted_over(harness_fedex, _body("to_address.city", "S" * 31))

    assert reply.status_code == 200, reply.json()
    answer = reply.json()
    assert answer["quotes"]
    assert {q["account"] for q in answer["quotes"]} == {fedex.slug}
    [failure] = answer["failures"]
    assert (failure["account"], failure["code"]) == (ups.slug, "field_too_long")
    assert "to_address.city" in failure["message"]
    assert "30 characters" in failure["message"]
    assert not ProviderCall.objects.filter(account=ups).exists()


def test_a_parcel_too_heavy_for_every_carrier_is_a_400_as_a_field_is():
    # The same rule for a parcel limit: no carrier can take it, nothing sent.
    harness_ups.make_account()
    harness_fedex.make_account()
    body = copy.deepcopy(RATE_REQUEST)
    body["parcels"][0].update(weight="70", weight_unit="kg")

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(body)

    assert reply.status_code == 400, reply.json()
    assert reply.json()["error"]["param"] == "parcels[0].weight"
    assert not ProviderCall.objects.exists()


def test_a_parcel_too_heavy_for_ups_leaves_it_out_and_the_others_quote():
    # What the shop did before field limits, and still does (the sandbox
    # carrier has no limit of its own; FedEx's is UPS's 68 kg).
    ups = harness_ups.make_account()
    carrier("post")
    body = copy.deepcopy(RATE_REQUEST)
    body["parcels"][0].update(weight="68.5", weight_unit="kg")

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(body)

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]
    [failure] = reply.json()["failures"]
    assert (failure["account"], failure["code"]) == (ups.slug, "parcel_too_heavy")


def test_fedex_takes_a_line_of_its_published_35():
    # FedEx's Ship API publishes 35 a street line (test_ship38b_carrier_limits).
    harness_fedex.make_account()

    reply = quoted_over(harness_fedex, _body("to_address.street_lines[0]", "7" * 35))

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]


def _ups_quote(request) -> RateQuote:
    return stored_quote(
        harness_ups.make_account(),
        request,
        fingerprint="f" * 64,
        carrier="ups",
        service_code="03",
        service_name="UPS Ground",
    )


def test_a_label_buy_at_ups_with_a_line_too_long_is_a_400_and_nothing_is_sent():
    # A quote stored before the limit (or before a carrier's limit changed).
    long_line = "7" * 36
    recipient = shared.RECIPIENT.__class__(
        **{**shared.RECIPIENT.__dict__, "street_lines": (long_line,)}
    )
    quote = _ups_quote(shared.rate_request(to_address=recipient))

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(
            {"quote_id": quote.public_id}, SHIPMENTS, HTTP_IDEMPOTENCY_KEY="s38-label"
        )

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == (
        "to_address.street_lines[0]",
        "field_too_long",
    )
    assert "35 characters" in error["message"]
    assert not ProviderCall.objects.exists()
    assert not Shipment.objects.exists()


def test_ups_takes_three_street_lines_at_most():
    from shipping.providers.field_limits import UPS_FIELDS
    from shipping.providers.validation import (
        CarrierLimits,
        InvalidShippingRequest,
        check_shipment,
    )

    lines = ("1 Dock Road", "Unit 2", "Gate 3", "Bay 4")
    shipper = shared.SHIPPER.__class__(
        **{**shared.SHIPPER.__dict__, "street_lines": lines}
    )
    limits = CarrierLimits(fields=UPS_FIELDS)

    with pytest.raises(InvalidShippingRequest) as refused:
        check_shipment(
            shipper,
            shared.RECIPIENT,
            (shared.PARCEL,),
            None,
            limits=limits,
            carrier="UPS",
        )

    assert refused.value.param == "from_address.street_lines"
    assert refused.value.code == "field_too_long"
