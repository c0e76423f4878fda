"""revpay24 (adapters): Braintree passes the card network's advice on a
declined transaction as ``merchant_advice_code`` (its "Merchant Advice
Codes" reference: Mastercard's MAC, 21 "Stop recurring payment", 03 "Do not
try again", 02 "Cannot approve at this time, try again later", 01 "New
account information available"), the table PayPal's and Stripe's advice is
read by (``base.NETWORK_ADVICE``). A "Do Not Honor" (2000, soft) with MAC 21
is the cardholder's stop of payments to us: a hard decline, whether the
create's answer said it, a look-up or a webhook."""

import pytest

from integrations.errors import Rejected
from payments.providers.base import PaymentEventKind, ProviderStatus
from tests.payments.providers.test_braintree import (  # noqa: F401 (fixtures)
    TRANSACTIONS,
    TXN,
    XML,
    account,
    adapter,
    load,
    mocked,
    payment,
)
from tests.payments.test_pay24_adapter_declines import braintree_notification

pytestmark = pytest.mark.django_db


def declined_xml(advice: str) -> str:
    return load("error_processor_declined.xml").replace(
        "<processor-response-code>2000</processor-response-code>",
        "<processor-response-code>2000</processor-response-code>"
        f"<merchant-advice-code>{advice}</merchant-advice-code>"
        "<merchant-advice-code-text>(the network's)</merchant-advice-code-text>",
    )


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
    mocked.post(TRANSACTIONS, status=422, body=declined_xml(advice), **XML)

    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.provider_code) == (code, "2000")
    assert caught.value.advice_code == advice_code


def test_a_look_up_of_a_declined_transaction_carries_the_networks_advice(
    adapter,  # noqa: F811
    mocked,  # noqa: F811
):
    xml = declined_xml("21")
    start = xml.index("<transaction>", xml.index("</params>"))
    transaction = xml[start : xml.rindex("</transaction>") + len("</transaction>")]
    mocked.get(f"{TRANSACTIONS}/{TXN}", body=transaction, **XML)

    result = adapter.retrieve(provider_reference=TXN)

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
    body = braintree_notification(
        "transaction_settlement_declined",
        f"<transaction><id>{TXN}</id><status>settlement_declined</status>"
        "<type>sale</type><currency-iso-code>USD</currency-iso-code>"
        "<amount>100.00</amount>"
        "<processor-response-code>1000</processor-response-code>"
        "<merchant-advice-code>21</merchant-advice-code>"
        "<processor-settlement-response-code>2000"
        "</processor-settlement-response-code></transaction>",
    )
    message = adapter.verify_webhook(
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        url="https://shop.example/webhooks/braintree-main/",
    )

    event = adapter.parse_payment_event(message)

    assert event.kind is PaymentEventKind.FAILED_FINAL
    assert (event.decline.code, event.decline.advice_code) == ("card_declined", "")
