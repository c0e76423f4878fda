"""A TradeGecko ``variant.destroy`` webhook: the read-back answers 404 (the
variant is gone, with its SKU), so nothing is applied; the event is noted
"not applied", naming the variant, for staff to see in its history before
the next full sync decides the levels (sync_gone), which it leaves as they
are."""

import pytest
import responses

from inventory.models import StockLevel
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory, StockLevelFactory
from tests.inventory.test_inv_tradegecko_webhooks import (  # noqa: F401
    VARIANT,
    _deliver,
    account,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("event", ["variant.destroy", "variant.update"])
def test_a_variant_gone_from_tradegecko_is_noted_on_the_event(
    account,  # noqa: F811
    event,
):
    StockLevelFactory(sku=VARIANT["sku"], location=LocationFactory(code="159"))
    with responses.RequestsMock() as rsps:
        rsps.add("GET", f"{tg.BASE}/variants/{VARIANT['id']}", status=404)
        row = _deliver(event)

    assert row.status == "processed"
    assert row.note.startswith("not applied: ")
    assert f"variant {VARIANT['id']}" in row.note
    assert "full sync" in row.note
    assert StockLevel.objects.get().on_hand == 10
