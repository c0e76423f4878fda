"""A TradeGecko variant read back for its webhook whose ``locations`` hold a
row of an odd shape. In TradeGecko's recorded answers (provider-specs,
vcr_cassettes/variants.yml) every row is an object with an integer
``location_id`` and a ``stock_on_hand`` string, each row one location's
figure on its own: one odd row is that level refused with a note on the
event (like any level our columns cannot hold), the others applied. It is
neither a dead event (KeyError) nor dropped without a word, nor a figure
read as 0 or filed under a location named "True"."""

import copy

import pytest
import responses

from inventory.models import Location, StockLevel
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory, StockLevelFactory
from tests.inventory.test_inv_tradegecko_webhooks import (  # noqa: F401
    VARIANT,
    _deliver,
    account,
)

pytestmark = pytest.mark.django_db

ODD_ROWS = {
    "no_location_id": {"stock_on_hand": "3", "committed": None},
    "null_location_id": {"location_id": None, "stock_on_hand": "3"},
    "bool_location_id": {"location_id": True, "stock_on_hand": "3"},
    "object_location_id": {"location_id": {"id": 7}, "stock_on_hand": "3"},
    "no_stock_on_hand": {"location_id": 160, "committed": "1"},
    "text_row": "159",
    "list_row": [159, "3"],
}


def _variant_with(row: object) -> dict:
    fixture = tg.load("variant.json")
    variant = copy.deepcopy(fixture["body"]["variant"])
    variant["locations"] = [*variant["locations"], row]
    return {**fixture["body"], "variant": variant}


@pytest.mark.parametrize("row", ODD_ROWS.values(), ids=ODD_ROWS.keys())
def test_an_odd_level_is_refused_with_a_note_and_the_rest_applied(
    account,  # noqa: F811
    row,
):
    level = StockLevelFactory(
        sku=VARIANT["sku"], location=LocationFactory(code="159"), on_hand=7
    )
    other = StockLevelFactory(
        sku=VARIANT["sku"], location=LocationFactory(code="160"), on_hand=98
    )
    with responses.RequestsMock() as rsps:
        rsps.add("GET", f"{tg.BASE}/variants/{VARIANT['id']}", json=_variant_with(row))
        event = _deliver("variant.update")

    assert event.status == "processed", event.last_error
    assert "1 level refused" in event.note
    level.refresh_from_db()
    assert level.on_hand == 202  # the readable levels are applied
    other.refresh_from_db()
    assert other.on_hand == 98  # a missing figure is not 0
    assert not Location.objects.filter(code__in=["True", "None", "{'id': 7}"]).exists()
    assert StockLevel.objects.filter(sku=VARIANT["sku"]).count() == len(
        VARIANT["locations"]
    )
