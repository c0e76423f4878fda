"""A cached currency id belongs to the ERP company it was read from. NetSuite
numbers currency records per company (1, 2, 3...): an account pointed at
another NetSuite company (its ``account_id`` changed, sandbox to another
production) must not send the id the old company gave, or the order is
booked in whatever currency that number is there."""

import json
import re

import pytest
import responses

from inventory import services
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.purchase_orders import purchase_order as _order

pytestmark = pytest.mark.django_db

HOSTS = {"1234567-sb1": {"EUR": "4"}, "7654321": {"EUR": "9"}}
SUITEQL = re.compile(
    r"https://([a-z0-9-]+)\.suitetalk\.api\.netsuite\.com/services/rest/query/v1/suiteql"
)
RECORD = re.compile(
    r"https://[a-z0-9-]+\.suitetalk\.api\.netsuite\.com/services/rest"
    r"/record/v1/purchaseOrder/eid:.+"
)


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def _company(rsps, puts: list) -> None:
    def suiteql(request):
        host = SUITEQL.match(request.url).group(1)
        query = json.loads(request.body).get("q", "")
        if "FROM currency" in query:
            rows = [
                {"id": number, "symbol": code}
                for code, number in HOSTS[host].items()
                if f"symbol = '{code}'" in query
            ]
        else:
            rows = [{"id": "501", "itemid": "A"}]
        page = {"items": rows, "count": len(rows), "hasMore": False, "offset": 0}
        return 200, {}, json.dumps({**page, "totalResults": len(rows)})

    def put(request):
        puts.append(json.loads(request.body))
        return 204, {}, ""

    rsps.add_callback("POST", SUITEQL, callback=suiteql)
    rsps.add_callback("PUT", RECORD, callback=put)
    # Read back in the currency record the PUT set, as NetSuite books it.
    rsps.add_callback("GET", RECORD, callback=ns.order_as_put(rsps))


def test_an_account_moved_to_another_netsuite_company_sends_that_companys_currency():
    account = ns.make_account()
    puts: list = []
    with responses.RequestsMock() as rsps:
        _company(rsps, puts)
        services.purchase_order_send(
            purchase_order=_order(status="draft"), account=account
        )
        account.settings = {**account.settings, "account_id": "7654321"}
        account.save()
        services.purchase_order_send(
            purchase_order=_order(status="draft"), account=account
        )
    assert [body["currency"] for body in puts] == [{"id": "4"}, {"id": "9"}]
