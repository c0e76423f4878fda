"""revpay24 (adapters): Braintree passes the card network's advice on a
declined transaction as ``merchant_advice_code`` (its "Merchant Advice
Codes" reference: Mastercard's MAC, 21 "Stop recurring payment", 03 "Do not
try again", 02 "Cannot approve at this time, try again later", 01 "New
account information available"), the table PayPal's and Stripe's advice is
read by (``base.NETWORK_ADVICE``). A "Do Not Honor" (2000, soft) with MAC 21
is the cardholder's stop of payments to us: a hard decline, whether the
create's answer said it, a look-up or a webhook."""

import pytest

from payments.providers.base import PaymentEventKind, ProviderStatus
from tests.payments.decline_answers import (
    braintree_declined,
    braintree_looked_up,
    braintree_refusal,
    settlement_declined_event,
)
from tests.payments.providers.test_braintree import (  # noqa: F401 (fixtures)
    account,
    adapter,
    mocked,
)

pytestmark = pytest.mark.django_db


def declined_xml(advice: str) -> str:
    return braintree_declined(merchant_advice=advice)


@pytest.mark.parametrize(
    ("advice", "code", "advice_code"),
    [
        ("21", "stop_payment", "do_not_try_again"),
        ("03", "card_declined", "do_not_try_again"),
        ("01", "card_declined", "do_not_try_again"),
        ("02", "card_declined", "try_again_later"),
        ("40", "card_declined", ""),
    ],
)
def test_a_declined_create_carries_the_networks_advice(
    adapter,  # noqa: F811
    mocked,  # noqa: F811
    advice,
    code,
    advice_code,
):
    refused = braintree_refusal(adapter, mocked, declined_xml(advice))

    assert (refused.code, refused.provider_code) == (code, "2000")
    assert refused.advice_code == advice_code


def test_a_look_up_of_a_declined_transaction_carries_the_networks_advice(
    adapter,  # noqa: F811
    mocked,  # noqa: F811
):
    result = braintree_looked_up(adapter, mocked, declined_xml("21"))

    assert result.status is ProviderStatus.FAILED
    assert (result.decline.code, result.decline.advice_code) == (
        "stop_payment",
        "do_not_try_again",
    )


def test_a_settlement_declined_event_ignores_the_authorizations_advice(
    adapter,  # noqa: F811
):
    # The authorization was approved (its advice, if any, was not a
    # decline's); the settlement's own code is the refusal.
    event = settlement_declined_event(adapter, "2000", advice="21")

    assert event.kind is PaymentEventKind.FAILED_FINAL
    assert (event.decline.code, event.decline.advice_code) == ("card_declined", "")
