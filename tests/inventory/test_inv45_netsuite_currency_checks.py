"""An order NetSuite holds in another currency than its own is never recorded
confirmed, however it was reached.

- The kept "send without the currency" answer found stale (Multiple
  Currencies turned on): the order is upserted again with its currency. An
  update NetSuite applies without changing the order's currency leaves it in
  the vendor's: that read-back is compared too (``currency_mismatch`` naming
  the booked record, nothing kept), and a send again reads the order NetSuite
  holds by external id, never upserts over it.
- A send whose answer was lost is read back by external id before anything is
  sent again: the order found is compared the same way.
- A refusal naming "field: currency" is the order's field only when
  ``o:errorPath`` says so, or, without one, when the message does not point at
  a sublist line: only that one is sent again without the field."""

import pytest
import responses

from tests.inventory.netsuite_currency import (
    EUR_ID,
    NOT_SETTABLE,
    USD_ID,
    NetSuite,
    account_with,
    currency_queries,
    eur_listed,
    field_refusal,
    mismatch,
    multiple_currencies_on,
    one_attempt,  # noqa: F401 (a fixture, used by name)
    refused_look_up,
    send,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_attempt")]


def _kept_without(rsps, **netsuite) -> tuple[NetSuite, object]:
    """A single-currency EUR account whose first order went without the
    field (kept), then Multiple Currencies turned on; NetSuite and the account."""
    account = account_with({"single_currency": "EUR"})
    refused_look_up(rsps)
    erp = NetSuite(rsps, **netsuite)
    first, _ = send(account)
    assert first.status == "confirmed"
    multiple_currencies_on(rsps)
    return erp, account


@pytest.mark.parametrize("applied", [True, False], ids=["applied", "left"])
def test_a_stale_kept_answer_is_upserted_again_in_its_currency(applied):
    # NetSuite books an order sent without the field in the vendor's (USD);
    # the update in EUR is applied, or leaves the order's currency.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        erp, account = _kept_without(rsps, keeps_currency=not applied)
        erp.booked = USD_ID
        second, error = send(account)
        if not applied:
            assert error is not None
            mismatch(second, USD_ID)
            # Sent again without correcting it in NetSuite: read by external
            # id, not upserted over again, still a mismatch.
            again, error = send(account, second)
            assert error is not None
            mismatch(again, USD_ID)
            assert erp.currencies() == [None, None, EUR_ID]
        third, _ = send(account)
        asked = currency_queries(rsps)
    if applied:
        assert error is None and second.status == "confirmed"
    assert third.status == "confirmed"
    # Sent without (kept), again in EUR (the same external id); no "without"
    # kept, so the third order goes in EUR at once (the record's id asked once).
    assert [body.get("currency") for body in erp.bodies()] == [
        None,
        None,
        {"id": EUR_ID},
        {"id": EUR_ID},
    ]
    assert erp.puts[1][0] == erp.puts[2][0]
    assert asked == 2


def test_a_stale_resend_whose_answer_is_lost_is_checked_when_found():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        erp, account = _kept_without(rsps, keeps_currency=True)
        # The upsert again in EUR is applied (not to the currency), its
        # answer lost.
        erp.booked, erp.lose = USD_ID, EUR_ID
        lost, error = send(account)
        assert error is not None and error.code == "read_timeout"
        found, error = send(account, lost)  # read back by external id
    assert error is not None
    mismatch(found, USD_ID)
    # Nothing sent again on the second send: the order NetSuite holds is read.
    assert erp.currencies() == [None, None, EUR_ID]


@pytest.mark.parametrize(
    ("held", "confirmed"), [(EUR_ID, True), (USD_ID, False), (None, True)]
)
def test_an_order_found_by_external_id_after_a_lost_answer(held, confirmed):
    account = account_with()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        eur_listed(rsps)
        erp = NetSuite(rsps, keeps_currency=True)
        erp.lose = EUR_ID
        order, error = send(account)
        assert error is not None and error.code == "read_timeout"
        # NetSuite holds it in ``held`` (an order staff changed there, or one
        # the PUT booked otherwise); None: no currency on the record.
        erp.held = {key: held for key in erp.held}
        order, error = send(account, order)
    assert len(erp.puts) == 1  # read back, not sent again
    if confirmed:
        assert error is None and order.status == "confirmed"
    else:
        assert error is not None
        mismatch(order, USD_ID)


_FIELD_CURRENCY = "Invalid Field Value 7 for the following field: currency"


@pytest.mark.parametrize(
    ("detail", "path", "sent_again"),
    [
        # The path names a line's field: the message cannot make it the order's.
        (_FIELD_CURRENCY, "item.items[0].currency", False),
        (_FIELD_CURRENCY, "item", False),
        # No path: the message points at a sublist line.
        (f"{_FIELD_CURRENCY} on line 1 of sublist item", None, False),
        (
            "Invalid Field Value 7 for the following field: item.items[0].currency",
            None,
            False,
        ),
        # Another field altogether.
        (
            "Invalid Field Value 9999 for the following field: item",
            "item.items[0].item",
            False,
        ),
        # The order's own field: by its path, or named only in the detail.
        (_FIELD_CURRENCY, "currency", True),
        (_FIELD_CURRENCY, None, True),
        (NOT_SETTABLE, None, True),
    ],
)
def test_only_the_orders_currency_field_refused_is_sent_again_without_it(
    detail, path, sent_again
):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        eur_listed(rsps)
        erp = NetSuite(rsps, refuse=field_refusal(detail, path))
        order, error = send(account_with({"single_currency": "EUR"}))
    if sent_again:
        assert error is None and len(erp.puts) == 2
        assert order.status == "confirmed"
    else:
        assert error is not None and len(erp.puts) == 1
        assert order.last_error.startswith("invalid_request: "), order.last_error
