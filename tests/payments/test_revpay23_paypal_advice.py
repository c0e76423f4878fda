"""revpay23: PayPal's ``processor_response.payment_advice_code`` has four
values (checkout_orders_v2.json: 01, 02, 03, 21); pay23 read three. 01 is the
network's "new account information available" (Mastercard MAC 01: obtain the
new card before the next billing): the advice Braintree gives as 2022
"Updated Cardholder Available", which pay23 keeps as ``do_not_try_again``
(final for the saved card). PayPal's 01 was dropped: the card stayed
resumable and staff saw no advice."""

import pytest

from integrations.errors import Rejected
from tests.payments.decline_answers import paypal_adapter, paypal_capture_refusal

pytestmark = pytest.mark.django_db


@pytest.fixture
def paypal():
    return paypal_adapter()


def _captured_with(paypal, advice: str) -> Rejected:
    return paypal_capture_refusal(paypal, advice)


def test_advice_01_new_account_information_is_do_not_try_again(paypal):
    error = _captured_with(paypal, "01")

    assert (error.code, error.provider_code) == ("card_declined", "0500")
    assert error.advice_code == "do_not_try_again"


def test_every_advice_value_of_the_spec_is_read(paypal):
    read = {
        advice: _captured_with(paypal, advice) for advice in ("01", "02", "03", "21")
    }

    assert {advice: error.advice_code for advice, error in read.items()} == {
        "01": "do_not_try_again",
        "02": "try_again_later",
        "03": "do_not_try_again",
        "21": "do_not_try_again",
    }
    assert read["21"].code == "stop_payment"
