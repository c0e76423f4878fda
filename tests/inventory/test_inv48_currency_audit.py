"""inv48: ``inventory_currency_audit``, for the orders no refresh reads again
(finished: ``received``), which were recorded before the currency compare
existed. Dry run by default, one line per order held in another currency,
non-zero exit on bad input or an order it could not check. Fixtures as in
test_inv48_refresh_currency (TradeGecko's recorded order: currency 4, SGD;
NetSuite's documented order: currency record 1, USD; our orders: EUR)."""

import copy
from io import StringIO

import pytest
import responses
from django.core.management import CommandError, call_command

from inventory.models import PurchaseOrder
from tests.inventory import netsuite_currency as nsc
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import purchase_order

pytestmark = pytest.mark.django_db

EUR_ID = tg.CURRENCY_IDS["EUR"]


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def _gecko(order: PurchaseOrder, **fields) -> dict:
    body = copy.deepcopy(tg.load("purchase_order_created.json")["body"])
    body["purchase_order"].update(
        id=int(order.external_reference),
        reference_number=order.public_id,
        status="received",
        **fields,
    )
    return body


def _audit(mock, *args: str) -> tuple[str, str, Exception | None]:
    out, err = StringIO(), StringIO()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock(rsps)
        try:
            call_command("inventory_currency_audit", *args, stdout=out, stderr=err)
            error = None
        except CommandError as raised:
            error = raised
    return out.getvalue(), err.getvalue(), error


@pytest.fixture
def gecko_orders():
    """At one TradeGecko account: a received order held there in SGD, one
    in EUR (ours), and a sent one in SGD (the refresh's, not audited)."""
    account = tg.make_account()
    wrong = purchase_order(account=account, reference="101", status="received")
    right = purchase_order(account=account, reference="102", status="received")
    sent = purchase_order(account=account, reference="103", status="sent")

    def mock(rsps):
        tg.currencies(rsps)
        rsps.get(f"{tg.BASE}/purchase_orders/101", json=_gecko(wrong))
        rsps.get(
            f"{tg.BASE}/purchase_orders/102", json=_gecko(right, currency_id=EUR_ID)
        )
        rsps.get(f"{tg.BASE}/purchase_orders/103", json=_gecko(sent))

    return wrong, right, sent, mock


def test_a_dry_run_names_each_finished_order_in_another_currency(gecko_orders):
    wrong, right, sent, mock = gecko_orders
    out, err, error = _audit(mock)
    assert error is None and err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"{wrong.public_id} (ERP order 101, received): ")
    assert "currency_mismatch: TradeGecko holds the order in currency record 4" in out
    assert right.public_id not in out and sent.public_id not in out
    assert lines[-1] == (
        "2 order(s) read, 1 held in another currency (dry run: nothing stored), "
        "0 not checked."
    )
    for order in (wrong, right, sent):
        before = (order.status, order.last_error)
        order.refresh_from_db()
        assert (order.status, order.last_error) == before


def test_record_keeps_the_mismatch_for_staff_and_takes_no_status(gecko_orders):
    wrong, right, _, mock = gecko_orders
    out, _, error = _audit(mock, "--record")
    assert error is None
    assert "(kept in last_error)" in out
    wrong.refresh_from_db()
    right.refresh_from_db()
    assert wrong.status == "received"
    assert wrong.last_error.startswith("currency_mismatch: TradeGecko holds")
    assert right.last_error == ""


def test_status_chooses_the_orders_read(gecko_orders):
    wrong, _, sent, mock = gecko_orders
    out, _, error = _audit(mock, "--status", "sent")
    assert error is None
    assert sent.public_id in out and wrong.public_id not in out


def test_netsuite_orders_are_compared_the_same_way():
    order = purchase_order(
        account=ns.make_account(), reference="3581", status="received"
    )
    record = nsc.record_in(nsc.USD_ID)
    record.update(externalId=order.public_id, orderStatus={"id": "G"})

    def mock(rsps):
        nsc.eur_listed(rsps)
        rsps.get(f"{ns.BASE}/record/v1/purchaseOrder/3581", json=record)

    out, _, error = _audit(mock)
    assert error is None
    assert f"{order.public_id} (ERP order 3581, received): currency_mismatch" in out
    assert f"currency record {nsc.USD_ID}" in out


def test_an_order_that_could_not_be_checked_fails_the_audit():
    account = tg.make_account()
    gone = purchase_order(account=account, reference="104", status="received")

    def mock(rsps):
        rsps.get(f"{tg.BASE}/purchase_orders/104", status=404, json={})

    out, err, error = _audit(mock)
    assert error is not None and "1 purchase order(s) not checked" in str(error)
    assert f"not checked: {gone.public_id} (ERP order 104, received): not_found" in err
    assert "0 order(s) read, 0 held in another currency" in out


def test_a_disabled_account_is_not_asked(gecko_orders):
    wrong, _, _, mock = gecko_orders
    type(wrong.account).objects.filter(pk=wrong.account.pk).update(enabled=False)
    out, err, error = _audit(mock)
    assert error is not None
    assert "is disabled" in err and "currency_mismatch" not in out


def test_bad_input_exits_non_zero():
    with pytest.raises(CommandError, match="No inventory account 'nope'"):
        call_command("inventory_currency_audit", "--account", "nope")
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("inventory_currency_audit", "--status", "draft")
