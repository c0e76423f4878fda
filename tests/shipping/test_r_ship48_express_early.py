"""Shippo's ``ups_express_early`` is UPS Canada's Express Early, not Express
Plus (review of ship48).

UPS Canada names its service 14 "UPS Express Early" within Canada (karrio's
UPS units: ``ups_express_early_ca`` "14"), and from Canada to the US the same
name is UPS's 54 (``ups_express_early_ca_us``), a shipment abroad. Shippo lists
Express Plus under a token of its own (public-api.yaml ServiceLevelUPSEnum
``ups_express_plus | Express Plus®``). So an Express Early label needs the
recipient's phone at home (service 14's rule) and both phones to the US (UPS's
rule abroad), while an Express Plus one at home is held to UPS's rule alone and
needs none. These pin that reading through the shipping API.
"""

from dataclasses import replace

import pytest

from tests.shipping.contract import requests as shared
from tests.shipping.test_ship48_shippo_carrier_phones import OTTAWA, TORONTO, _buy

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
MONTREAL = replace(TORONTO, city="Montreal", state_code="QC", postal_code="H2Y 1C6")


def test_an_express_plus_label_at_home_without_the_recipients_phone_is_bought():
    reply, calls = _buy("ups_express_plus", from_address=TORONTO, to_address=OTTAWA)

    assert reply.status_code == 201, reply.json()
    assert calls


def test_an_express_early_label_to_the_us_without_the_shippers_phone_is_a_400():
    shipper = replace(MONTREAL, phone="")
    reply, calls = _buy(
        "ups_express_early", from_address=shipper, to_address=shared.RECIPIENT
    )

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == ("from_address.phone", "missing_field")
    assert calls == []


def test_an_express_early_label_at_home_with_the_recipients_phone_is_bought():
    recipient = replace(OTTAWA, phone="+1 613 555 0100")
    reply, calls = _buy("ups_express_early", from_address=TORONTO, to_address=recipient)

    assert reply.status_code == 201, reply.json()
    assert calls
