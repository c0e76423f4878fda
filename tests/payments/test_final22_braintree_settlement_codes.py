"""Braintree's settlement responses are the 4000 class (published table:
4001 Settlement Declined, 4005 PayPal Risk Rejected, ...): a settlement the
processor declined is a decline of the card's money, not a processing
failure of ours, as the 3000 class (processor unavailable) is."""

import pytest

from payments.providers.base import PaymentEventKind
from tests.payments.decline_answers import settlement_declined_event
from tests.payments.providers.test_braintree import (  # noqa: F401 (fixtures)
    account,
    adapter,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("code", ["4001", "4005"])
def test_a_settlement_declined_by_the_processor_is_a_card_decline(
    adapter,  # noqa: F811
    code,
):
    event = settlement_declined_event(adapter, code)

    assert event.kind is PaymentEventKind.FAILED_FINAL
    assert (event.decline.code, event.decline.provider_code) == ("card_declined", code)
