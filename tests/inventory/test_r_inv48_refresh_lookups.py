"""r-inv48: the refresh schedule's currency compare asks TradeGecko's
currency list once per account and currency, also when the orders it reads
are held there in another currency. Those orders (recorded before the
compare existed) stay sent and are read on every run; a mismatch that
dropped the kept currency id made each of them list TradeGecko's currencies
again (up to 40 pages apiece), every run. Fixtures: TradeGecko's recorded
order (currency 4, SGD); our orders EUR."""

import pytest
import responses

from inventory import services
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import purchase_order
from tests.inventory.test_inv48_refresh_currency import gecko_order

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def test_the_schedule_lists_currencies_once_for_orders_held_in_another():
    account = tg.make_account()
    orders = [purchase_order(account=account, reference=str(n)) for n in (301, 302)]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        tg.currencies(rsps)
        for order in orders:
            body = gecko_order(order, status="received")  # held in SGD
            body["purchase_order"]["id"] = int(order.external_reference)
            rsps.get(f"{tg.BASE}/purchase_orders/{order.external_reference}", json=body)
        assert services.purchase_orders_refresh_open() == 0
        assert services.purchase_orders_refresh_open() == 0  # the next run
        asked = [c.request.url.split("?")[0] for c in rsps.calls]
    assert asked.count(tg.CURRENCIES) == 1
    for order in orders:
        order.refresh_from_db()
        assert order.status == "sent"
        assert order.last_error.startswith("currency_mismatch: ")
