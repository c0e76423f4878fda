"""r-inv48: an order cancelled at its ERP is recorded cancelled by the
refresh whatever its currency, as ``held_check`` says ("never refused for
ever"), and as the refresh did before it compared currencies: not only when
the compare can be made. An order whose currency the ERP no longer lists (or
a NetSuite account stating another single currency) would otherwise stay
``sent`` for ever, its refusal repeated on every schedule run. Fixtures as in
test_inv48_refresh_currency (TradeGecko's recorded order, NetSuite's
documented purchaseOrder; our orders EUR)."""

import pytest
import responses

from inventory import services
from tests.inventory import netsuite_currency as nsc
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import purchase_order
from tests.inventory.test_inv48_refresh_currency import gecko_order, netsuite_order

pytestmark = pytest.mark.django_db

TG_ORDER = f"{tg.BASE}/purchase_orders/28381"
NS_ORDER = f"{ns.BASE}/record/v1/purchaseOrder/3581"


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def test_tradegecko_order_cancelled_there_in_a_currency_no_longer_listed():
    order = purchase_order(account=tg.make_account(), reference="28381")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        tg.currencies(rsps, listed={})  # EUR removed at TradeGecko
        rsps.get(TG_ORDER, json=gecko_order(order, status="void"))
        services.purchase_order_refresh(purchase_order=order)
    order.refresh_from_db()
    assert (order.status, order.last_error) == ("cancelled", "")


def test_netsuite_order_closed_there_at_an_account_stating_another_currency():
    # Stated USD (no Multiple Currencies): every read of an EUR order there
    # is refused as a mismatch, but a closed one has nothing to receive or pay.
    account = nsc.account_with({"single_currency": "USD"})
    order = purchase_order(account=account, reference="3581")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        nsc.refused_look_up(rsps)
        rsps.get(NS_ORDER, json=netsuite_order(order, nsc.USD_ID, status="H"))
        services.purchase_order_refresh(purchase_order=order)
    order.refresh_from_db()
    assert (order.status, order.last_error) == ("cancelled", "")
