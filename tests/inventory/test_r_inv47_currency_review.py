"""r-inv47 review: a TradeGecko order refused as held in another currency
keeps nothing for the next try, as NetSuite's refusal forgets its kept
answer: the currency id looked up for the order's currency (kept an hour)
may be the stale one, and staff who find the order in the right currency
must not be refused again for that hour."""

import pytest

from integrations.errors import ProviderError
from inventory import services
from inventory.models import PurchaseOrder
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import purchase_order
from tests.inventory.tradegecko_currency import at_gecko, found_at_erp, send_answered

pytestmark = pytest.mark.django_db

# EUR as TradeGecko numbers it once deleted there and added again.
EUR_AGAIN = 3000


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


@pytest.fixture
def unresolved() -> PurchaseOrder:
    order = purchase_order(account=tg.make_account(), status="unresolved")
    assert order.currency == "EUR"
    return order


def _found(admin_client, order: PurchaseOrder, eur_id: int):
    """Staff record TradeGecko's order ERP_ID, held in EUR_AGAIN, while its
    currency list numbers EUR ``eur_id``."""
    body = at_gecko(order.public_id, currency_id=EUR_AGAIN)
    response, _ = found_at_erp(admin_client, order, body, listed={"EUR": eur_id})
    return response


def test_a_refusal_keeps_no_currency_id_for_the_next_try(admin_client, unresolved):
    # Looked up (and kept) as 2051: the order in 3000 is refused.
    refused = _found(admin_client, unresolved, tg.CURRENCY_IDS["EUR"])
    assert refused.status_code == 200
    assert "currency record 3000" in refused.content.decode()
    assert unresolved.status == "unresolved"
    # TradeGecko numbers EUR 3000 now: the next try looks it up again.
    response = _found(admin_client, unresolved, EUR_AGAIN)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert (unresolved.status, unresolved.external_reference) == ("sent", "28381")


def test_the_way_out_fits_the_stored_error_with_the_longest_ids():
    # TradeGecko's ids run to 2**63 - 1 (is_id): both named in the refusal,
    # the whole of what staff do must still fit last_error's 255 characters.
    longest = 2**63 - 1
    order = purchase_order(account=tg.make_account(), status="draft")
    answer = at_gecko(order.public_id, currency_id=longest - 1)
    order, error, _ = send_answered(order, answer, listed={"EUR": longest})
    assert isinstance(error, services.InventoryError), error
    assert f"currency record {longest - 1}, not EUR's ({longest})" in order.last_error
    assert order.last_error.endswith(
        'then "Found at the ERP" once unresolved (past the key\'s 24 h)'
    )


@pytest.mark.parametrize("stated", [None, "4", "absent"])
def test_an_order_stating_no_currency_id_is_not_recorded(admin_client, stated):
    # Every TradeGecko purchase order carries an integer currency_id (the
    # spec's recording; no single-currency mode as NetSuite's): one without
    # is not compared, so never recorded as found in the order's currency.
    order = purchase_order(account=tg.make_account(), status="unresolved")
    body = at_gecko(order.public_id, currency_id=stated)
    if stated == "absent":
        del body["purchase_order"]["currency_id"]
    response, _ = found_at_erp(admin_client, order, body)
    assert response.status_code == 200
    assert "currency_id" in response.content.decode()
    assert (order.status, order.external_reference) == ("unresolved", "")


def test_a_send_answered_without_a_currency_id_is_not_recorded_sent():
    order = purchase_order(account=tg.make_account(), status="draft")
    answer = at_gecko(order.public_id)
    del answer["purchase_order"]["currency_id"]
    order, error, _ = send_answered(order, answer)
    assert isinstance(error, ProviderError), error
    assert (order.status, order.external_reference) == ("draft", "")
    assert order.last_error.startswith("malformed_response: ")
    # Placed: its key's life has begun (a send again goes under the same key).
    assert order.send_tried_at is not None


def test_one_cancelled_there_needs_no_currency_id(admin_client):
    order = purchase_order(account=tg.make_account(), status="unresolved")
    body = at_gecko(order.public_id, status="void")
    del body["purchase_order"]["currency_id"]
    response, _ = found_at_erp(admin_client, order, body)
    assert response.status_code == 302
    assert order.status == "cancelled"
