"""Guard for the bare-code rule (ship48: a bare short code ISO 3166-2 lists
for the address's country is read as that subdivision, so "HK" at a
Chinese address is refused as Hong Kong): a genuine province given as its
bare code still reaches the carrier as one (ship49).

DHL Express is the carrier asked: MyDHL's provinceCode takes 2 to 35
characters, optional everywhere, so what it is sent is what the rule made
of the code: "BJ" and "GD" in China, "IDF" in France, and an Irish county's
name (ISO 3166-2's "D" is "Dublin", as UPS's StateProvinceCode "must
contain the county").
"""

import json

import pytest
import responses

from tests.shipping.contract import harness_dhl_express
from tests.shipping.helpers import abroad, post_as_writer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
RATES_URL = f"{harness_dhl_express.BASE}/rates"
BEIJING = {
    "name": "Li Buyer",
    "street_lines": ["1 Chang'an Avenue"],
    "city": "Beijing",
    "postal_code": "100000",
    "country_code": "CN",
    "phone": "+86 10 5555 0100",
}
GUANGZHOU = {
    "name": "Chen Buyer",
    "street_lines": ["1 Tianhe Road"],
    "city": "Guangzhou",
    "postal_code": "510000",
    "country_code": "CN",
    "phone": "+86 20 5555 0100",
}
PARIS = {
    "name": "Marie Buyer",
    "street_lines": ["1 Rue de Rivoli"],
    "city": "Paris",
    "postal_code": "75001",
    "country_code": "FR",
    "phone": "+33 1 55 55 01 00",
}
DUBLIN = {
    "name": "Aoife Buyer",
    "street_lines": ["1 O'Connell Street"],
    "city": "Dublin",
    "postal_code": "D01 F5P2",
    "country_code": "IE",
    "phone": "+353 1 555 0100",
}


@pytest.mark.parametrize(
    ("address", "state", "sent"),
    [
        (BEIJING, "BJ", "BJ"),
        (BEIJING, "bj", "BJ"),
        (BEIJING, "CN-BJ", "BJ"),
        (GUANGZHOU, "GD", "GD"),
        (PARIS, "IDF", "IDF"),
        (PARIS, "FR-IDF", "IDF"),
        (DUBLIN, "D", "Dublin"),
        (DUBLIN, "IE-D", "Dublin"),
    ],
)
def test_a_genuine_province_is_quoted_and_sent_as_the_province(address, state, sent):
    harness_dhl_express.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_dhl_express.rates(mocked, None)
        reply = post_as_writer(abroad(address | {"state_code": state}))
        calls = [c for c in mocked.calls if c.request.url.startswith(RATES_URL)]

    assert reply.status_code == 200, reply.json()
    assert reply.json()["failures"] == []
    assert reply.json()["quotes"], reply.json()
    [call] = calls
    receiver = json.loads(call.request.body)["customerDetails"]["receiverDetails"]
    assert (receiver["countryCode"], receiver["provinceCode"]) == (
        address["country_code"],
        sent,
    )
