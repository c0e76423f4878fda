"""A 200 whose body has the right shape but a wrong type at one place: every
carrier adapter answers a ProviderError (Unknown: the carrier may have acted),
never a bare Python exception (a 500 and a shipment stuck 'purchasing'). The
ShippingAdapter template guards every hook (shipping.providers.hook_guard)."""

import copy
import importlib

import pytest
import responses

from integrations.errors import ProviderError
from integrations.registry import get_adapter

pytestmark = pytest.mark.django_db

MUTATIONS = [None, "x", 7, [], {}, ["x"], [7]]


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list) and value:
        yield from _paths(value[0], (*path, 0))


def _set(value, path, new):
    """``value`` with ``new`` at ``path``; ``value`` itself is left as it was.
    Only the containers along the path are copied (the body goes out as
    JSON, so sharing the rest is safe): a deep copy of a whole answer per
    case was half of these tests' time."""
    if not path:
        return new
    node = copy.copy(value)
    node[path[0]] = _set(value[path[0]], path[1:], new)
    return node


CASES = {
    "fedex": ("POST", "https://apis-sandbox.fedex.com/ship/v1/shipments", 200),
    "ups": ("POST", "https://wwwcie.ups.com/api/shipments/v2409/ship", 200),
    "dhl_express": ("POST", "https://express.api.dhl.com/mydhlapi/test/shipments", 201),
    "shippo": ("POST", "https://api.goshippo.com/transactions", 201),
}
FIXTURE = {
    "fedex": "ship_response.json",
    "ups": "ship_response.json",
    "dhl_express": "shipment_response.json",
    "shippo": "transaction_success.json",
}


@pytest.mark.parametrize("carrier", sorted(CASES))
def test_label_answer_with_one_wrong_type_is_a_provider_error(carrier):
    harness = importlib.import_module(f"tests.shipping.contract.harness_{carrier}")
    good = harness.load(FIXTURE[carrier])
    method, url, status = CASES[carrier]
    account = harness.make_account()
    crashes = {}
    # One mock for every case, only the answer replaced: the harness's set-up
    # (fixture files read, responses registered) per case was a tenth of the time.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        request = harness.label(rsps, account)
        for path in _paths(good):
            for new in MUTATIONS:
                rsps.replace(method, url, status=status, json=_set(good, path, new))
                try:
                    get_adapter(account).create_label(request)
                except ProviderError:
                    pass
                except Exception as exc:
                    crashes.setdefault(type(exc).__name__, []).append(
                        (".".join(map(str, path)), repr(new))
                    )
    assert not crashes, {
        k: [*v[:4], f"... {len(v)} in all"] for k, v in crashes.items()
    }


TRACK = {
    "fedex": (
        "POST",
        "https://apis-sandbox.fedex.com/track/v1/trackingnumbers",
        "track_response.json",
    ),
    "ups": (
        "GET",
        "https://wwwcie.ups.com/api/track/v1/details/1Z1442YY7229014688",
        "track_response.json",
    ),
    "dhl_express": (
        "GET",
        "https://express.api.dhl.com/mydhlapi/test/tracking",
        "tracking_response.json",
    ),
    "shippo": (
        "GET",
        "https://api.goshippo.com/tracks/usps/9205590164917312751089",
        "track.json",
    ),
    "usps": (
        "GET",
        "https://api-cat.usps.com/tracking/v3/tracking/9400109104250532908587",
        "tracking_response.json",
    ),
}


@pytest.mark.parametrize("carrier", sorted(TRACK))
def test_track_answer_with_one_wrong_type_is_a_provider_error(carrier):
    harness = importlib.import_module(f"tests.shipping.contract.harness_{carrier}")
    method, url, fixture = TRACK[carrier]
    good = harness.load(fixture)
    account = harness.make_account()
    crashes = {}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        request = harness.tracking(rsps, account)
        for path in _paths(good):
            for new in MUTATIONS:
                rsps.replace(method, url, json=_set(good, path, new))
                try:
                    get_adapter(account).track(request)
                except ProviderError:
                    pass
                except Exception as exc:
                    crashes.setdefault(type(exc).__name__, []).append(
                        (".".join(map(str, path)), repr(new))
                    )
    assert not crashes, {
        k: [*v[:4], f"... {len(v)} in all"] for k, v in crashes.items()
    }


def test_a_hook_that_breaks_before_its_request_went_out_is_not_processed(monkeypatch):
    """Nothing reached the carrier: NotProcessed (the buy may fail and be
    bought again), and the carrier's endpoint was never called."""
    from integrations.errors import NotProcessed
    from shipping.providers.fedex import FedExAdapter

    harness = importlib.import_module("tests.shipping.contract.harness_fedex")
    account = harness.make_account()

    def broken(self):
        raise KeyError("account_number")

    monkeypatch.setattr(FedExAdapter, "_account", broken)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        request = harness.label(rsps, account)
        ship = rsps.replace(*CASES["fedex"][:2], status=200, json={})
        with pytest.raises(NotProcessed) as caught:
            get_adapter(account).create_label(request)
    assert caught.value.code == "internal_error"
    assert ship.call_count == 0


def test_a_hook_that_breaks_reading_the_answer_is_unknown_in_our_words():
    from integrations.errors import Unknown

    harness = importlib.import_module("tests.shipping.contract.harness_fedex")
    account = harness.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        request = harness.label(rsps, account)
        rsps.replace(*CASES["fedex"][:2], status=200, json={"output": "surprise"})
        with pytest.raises(Unknown) as caught:
            get_adapter(account).create_label(request)
    assert caught.value.code == "malformed_response"
    assert "surprise" not in caught.value.message
