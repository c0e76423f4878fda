"""Review of TradeGecko's odd levels (revc): a variant whose ``locations``
is not a list is refused with a note whatever its shape, also an empty
object, text or false (read as "no locations" it was dropped unsaid);
``null`` or an empty list is a variant stocked nowhere, nothing to say."""

import copy

import pytest
import responses

from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory, StockLevelFactory
from tests.inventory.test_inv_tradegecko_webhooks import (  # noqa: F401
    VARIANT,
    _deliver,
    account,
)

pytestmark = pytest.mark.django_db


def _variant_with(locations: object) -> dict:
    fixture = tg.load("variant.json")
    variant = copy.deepcopy(fixture["body"]["variant"])
    variant["locations"] = locations
    return {**fixture["body"], "variant": variant}


def _delivered(locations: object):
    level = StockLevelFactory(
        sku=VARIANT["sku"], location=LocationFactory(code="159"), on_hand=7
    )
    with responses.RequestsMock() as rsps:
        rsps.add(
            "GET",
            f"{tg.BASE}/variants/{VARIANT['id']}",
            json=_variant_with(locations),
        )
        event = _deliver("variant.update")
    level.refresh_from_db()
    assert event.status == "processed", event.last_error
    assert level.on_hand == 7
    return event


@pytest.mark.parametrize(
    "locations",
    [{}, "", False, 0, "159"],
    ids=["object", "blank", "false", "0", "text"],
)
def test_locations_not_a_list_are_refused_with_a_note(
    account,  # noqa: F811
    locations,
):
    event = _delivered(locations)
    assert "1 level refused" in event.note


@pytest.mark.parametrize("locations", [None, []], ids=["null", "empty_list"])
def test_no_locations_is_nothing_refused(account, locations):  # noqa: F811
    event = _delivered(locations)
    assert "refused" not in event.note
