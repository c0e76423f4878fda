"""A UPS quote abroad without the phones its label requires (r-ship44).

ship44 refused a quote where its label would be refused (Shippo's zip, USPS
international's customs currency) and found no such rule at UPS. UPS's
Shipping API (provider-specs/ups/Shipping.yaml) requires both phones on a
shipment abroad: Shipper_Phone.Number "A phone number is required if
destination is international", ShipTo_Phone.Number "Required for ... when
Ship To country or territory is different than the ShipFrom country or
territory". Rating sends no phones, so such a quote was offered and its
label could only come back as UPS's refusal. Now both are refused before
any call (``missing_field`` naming the phone); a rate shop leaves UPS out
with that reason and the other carriers quote; at home nothing changes.
"""

from dataclasses import replace

import pytest
import responses

from integrations.models import ProviderCall
from shipping.providers.ups import UPSAdapter
from shipping.providers.validation import InvalidShippingRequest
from tests.shipping.contract import harness_sandbox, harness_ups
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import abroad, post_as_writer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
BERLIN = {
    "name": "Erika Mustermann",
    "street_lines": ["Unter den Linden 1"],
    "city": "Berlin",
    "state_code": "",
    "postal_code": "10117",
    "country_code": "DE",
}


def _refused(request, *, label: bool = False) -> InvalidShippingRequest:
    adapter = UPSAdapter(harness_ups.make_account())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        with pytest.raises(InvalidShippingRequest) as refused:
            adapter.create_label(request) if label else adapter.rates(request)
        assert list(mocked.calls) == []
    assert not ProviderCall.objects.exists()
    return refused.value


def _abroad(**changes):
    request = shared.rate_request(to_address=shared.ABROAD, customs=shared.CUSTOMS)
    return replace(request, **changes)


def test_a_ups_quote_abroad_without_the_recipients_phone_is_refused():
    request = _abroad(to_address=replace(shared.ABROAD, phone=""))

    refused = _refused(request)

    assert (refused.param, refused.code) == ("to_address.phone", "missing_field")
    assert "UPS" in refused.message


def test_a_ups_quote_abroad_without_the_shippers_phone_is_refused():
    request = _abroad(from_address=replace(shared.SHIPPER, phone=" "))

    refused = _refused(request)

    assert (refused.param, refused.code) == ("from_address.phone", "missing_field")


def test_a_ups_label_abroad_without_a_phone_is_refused_before_any_call():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        label = harness_ups.label(mocked, None)
    label = replace(
        label,
        to_address=replace(shared.ABROAD, phone=""),
        customs=shared.CUSTOMS,
    )

    refused = _refused(label, label=True)

    assert refused.param == "to_address.phone"


def test_a_ups_quote_at_home_without_phones_is_still_asked():
    request = shared.rate_request(
        from_address=replace(shared.SHIPPER, phone=""),
        to_address=replace(shared.RECIPIENT, phone=""),
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_ups.rates(mocked, None)
        rates = UPSAdapter(harness_ups.make_account()).rates(request)

    assert rates


def test_a_rate_shop_abroad_without_phones_leaves_ups_out_with_its_reason():
    # The sandbox quotes: DHL Express requires both phones everywhere (ship45).
    harness_ups.make_account()
    harness_sandbox.make_account()
    body = abroad(BERLIN)
    del body["from_address"]["phone"]  # the API's example, its phone left out

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_ups.rates(mocked, None)
        reply = post_as_writer(body)
        ups_calls = [c for c in mocked.calls if c.request.url == harness_ups.RATES_URL]

    assert reply.status_code == 200, reply.json()
    shop = reply.json()
    assert {q["carrier"] for q in shop["quotes"]} == {"sandbox"}
    [failure] = shop["failures"]
    assert failure["provider"] == "ups"
    assert (failure["code"], failure["param"]) == (
        "missing_field",
        "from_address.phone",
    )
    assert ups_calls == []


COMPARE = "/admin/shipping/shipment/compare-rates/"


def _compare_abroad(admin_client, **fields: str):
    """The admin's compare form to Berlin at a UPS account, UPS answering
    from its fixtures: (the page, whether UPS was asked)."""
    from tests.shipping.test_admin import FORM

    harness_ups.make_account()
    form = FORM | {
        "to_city": "Berlin",
        "to_postal_code": "10117",
        "to_state_code": "",
        "to_country_code": "DE",
        "customs_description": "T-shirt",
        "customs_value": "1500",
        **fields,
    }
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_ups.rates(mocked, None)
        page = admin_client.post(COMPARE, form)
        asked = any(c.request.url == harness_ups.RATES_URL for c in mocked.calls)
    return page, asked


def test_staff_give_the_compare_forms_quote_abroad_the_phones_ups_requires(
    admin_client,
):
    # The compare form had no phone: abroad, UPS could only be left out.
    page, asked = _compare_abroad(
        admin_client, from_phone="+1 901 555 0100", to_phone="+49 30 5550 1234"
    )

    assert page.status_code == 200
    assert asked
    assert page.context["rows"]  # quotes to buy from
    assert not page.context["result"].failures


def test_without_phones_the_compare_form_lists_ups_as_refused_for_them(
    admin_client,
):
    page, asked = _compare_abroad(admin_client)

    # UPS the only carrier: its refusal is the page's error, naming the field.
    assert not asked
    assert page.context["error"].startswith("from_address.phone: ")
