"""r-inv45: an order refused ``currency_mismatch`` after NetSuite applied its
upsert (the order is there, in the vendor's currency) is never recorded
confirmed by a plain send again: NetSuite holds it, so the send again reads it
by external id and compares its currency, as after a lost answer."""

import pytest
import responses

from tests.inventory.netsuite_currency import (
    NOT_EXPOSED,
    account_with,
    currency_answer,
    refused,
    rows,
    send,
)
from tests.inventory.test_inv44_netsuite_currency_put import (
    NOT_SETTABLE,
    NetSuite,
)
from tests.inventory.test_inv45_netsuite_currency_checks import (
    EUR_ID,
    USD_ID,
    Orders,
    _mismatch,
    _multiple_currencies_on,
    _send_again,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def test_a_stale_resend_left_in_the_vendors_currency_stays_a_mismatch_when_sent_again():
    account = account_with({"single_currency": "EUR"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        currency_answer(rsps, status=400, body=refused(NOT_EXPOSED))
        erp = Orders(rsps)
        send(account)  # kept: sent without
        _multiple_currencies_on(rsps)
        erp.booked = USD_ID
        order, error = send(account)
        assert error is not None
        _mismatch(order, USD_ID)
        # Staff (or a retry) send it again without correcting it in NetSuite.
        again, error = _send_again(order, account)
    assert error is not None
    _mismatch(again, USD_ID)
    # NetSuite holds it: read by external id, not upserted over again.
    assert erp.currencies() == [None, None, EUR_ID]


def test_an_order_booked_in_the_vendors_currency_is_read_not_upserted_when_sent_again():
    # The role may not set Currency: sent again without it, NetSuite booked
    # it in the vendor's. A send again reads the order it holds.
    refusal = refused(NOT_SETTABLE, code="INVALID_FLD_VALUE")
    refusal["o:errorDetails"][0]["o:errorPath"] = "currency"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        currency_answer(
            rsps, body=rows({"id": EUR_ID, "symbol": "EUR", "isinactive": "F"})
        )
        erp = NetSuite(rsps, refuse=refusal, booked=USD_ID)
        account = account_with({"single_currency": "EUR"})
        order, error = send(account)
        assert error is not None and len(erp.puts) == 2
        _mismatch(order, USD_ID)
        again, error = _send_again(order, account)
    assert error is not None
    _mismatch(again, USD_ID)
    assert len(erp.puts) == 2
