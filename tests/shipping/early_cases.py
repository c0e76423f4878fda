"""Set-up shared by the UPS Next Day Air Early tests (ship45, ship46): each
carrier's rates answer with that service listed besides the others, and per
carrier that sells it (UPS as its own service 14, Shippo as its servicelevel
token) what the tests ask of it."""

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import ModuleType

import responses

from shipping.providers.shippo import ShippoAdapter
from shipping.providers.ups import UPSAdapter
from tests.shipping.contract import harness_shippo, harness_ups
from tests.shipping.contract import requests as shared

NO_PHONE = replace(shared.RECIPIENT, phone="")
# public-api.yaml ServiceLevelUPSEnum: "ups_next_day_air_early_am | Next Day
# Air® Early".
SHIPPO_EARLY = "ups_next_day_air_early_am"


def ups_shop_with_early() -> dict:
    """UPS's Shop answer with a Next Day Air Early rate besides the others."""
    answer = harness_ups.load("rate_shop.json")
    rated = answer["RateResponse"]["RatedShipment"]
    early = copy.deepcopy(rated[0])
    early["Service"]["Code"] = "14"
    rated.append(early)
    return answer


def ups_shop_answered(mocked: responses.RequestsMock) -> None:
    """UPS answering a token request and a Shop with ``ups_shop_with_early``."""
    harness_ups.rates(mocked, None)
    mocked.replace(responses.POST, harness_ups.RATES_URL, json=ups_shop_with_early())


def shippo_rates_with_early() -> dict:
    """Shippo's rates answer with a UPS Next Day Air Early rate besides the
    others, shaped as its UPS Ground one (a Rate of public-api.yaml)."""
    answer = harness_shippo.load("shipment_rates.json")
    early = copy.deepcopy(answer["rates"][2])
    early["object_id"] = "e0e1e2e3e4e5e6e7e8e9eaebecedeeef"
    early["servicelevel"] |= {
        "name": "Next Day Air® Early",
        "token": SHIPPO_EARLY,
        "extended_token": SHIPPO_EARLY,
    }
    answer["rates"].append(early)
    return answer


def shippo_rates_answered(mocked: responses.RequestsMock) -> None:
    mocked.post(f"{harness_shippo.BASE}/shipments", json=shippo_rates_with_early())


@dataclass(frozen=True)
class Early:
    """A carrier selling UPS Next Day Air Early: its adapter and harness, the
    service's code there, codes that need no recipient's phone at home, and
    how its rates answer listing the service is registered."""

    adapter: type
    harness: ModuleType
    code: str
    others: tuple[str, ...]
    answer_rates: Callable[[responses.RequestsMock], None]

    def quoted_codes(self, request) -> set[str]:
        """The service codes of an all-services quote for ``request``."""
        adapter = self.adapter(self.harness.make_account())
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
            self.answer_rates(mocked)
            return {rate.service_code for rate in adapter.rates(request)}


EARLY = {
    "ups": Early(UPSAdapter, harness_ups, "14", ("01",), ups_shop_answered),
    "shippo": Early(
        ShippoAdapter,
        harness_shippo,
        SHIPPO_EARLY,
        ("ups_ground", "ups_next_day_air", "usps_priority"),
        shippo_rates_answered,
    ),
}
