"""A NetSuite re-send whose read-back (GET eid:) fails: nothing is PUT (the
order may be one NetSuite approved or received), the order stays a draft
with its send still unanswered, the failure stored for staff."""

import pytest
import requests
import responses

from integrations.errors import ProviderError
from inventory import services
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.purchase_orders import purchase_order as _order

pytestmark = pytest.mark.django_db

RECORD = f"{ns.BASE}/record/v1/purchaseOrder"


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 503, "json": {"o:errorDetails": [{"detail": "busy"}]}},
        {"body": requests.exceptions.ReadTimeout("read timed out")},
    ],
)
def test_a_failed_read_back_puts_nothing_and_keeps_the_draft(answer):
    account = ns.make_account()
    order = _order(status="draft")
    path = f"{RECORD}/eid:{order.public_id}"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        ns.currencies(rsps)
        rsps.post(
            ns.SUITEQL,
            json={"items": [{"id": "501", "itemid": "A"}], "hasMore": False},
            match=[ns.query_lacks("FROM currency")],
        )
        rsps.put(path, body=requests.exceptions.ReadTimeout("read timed out"))
        with pytest.raises(ProviderError):
            services.purchase_order_send(purchase_order=order, account=account)
        order.refresh_from_db()
        tried = order.send_tried_at
        assert tried is not None
        rsps.get(path, **answer)
        with pytest.raises(ProviderError):
            services.purchase_order_send(purchase_order=order, account=account)
        puts = [c for c in rsps.calls if c.request.method == "PUT"]
    assert len(puts) == 1  # the first send's only
    order.refresh_from_db()
    assert order.status == "draft" and order.external_reference == ""
    assert order.send_tried_at == tried and order.last_error
