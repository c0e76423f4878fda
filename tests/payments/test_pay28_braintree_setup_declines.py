"""pay28 (Braintree): 2023 "Processor Does Not Support This Feature" and 2024
"Card Type Not Enabled" are hard declines in Braintree's authorization
responses table (developer.paypal.com/braintree/docs/reference/general/
processor-responses/authorization-responses): the merchant account cannot
process that feature or card type, so each retry on the card is one more
certain decline. They carry the gateway's advice not to try again, which
makes them final for the card (recurring_manage.final_decline)."""

import pytest

from payments.providers.base import DO_NOT_TRY_AGAIN
from tests.payments.decline_answers import braintree_declined, braintree_refusal
from tests.payments.providers.test_braintree import (  # noqa: F401 (fixtures)
    account,
    adapter,
    mocked,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("processor_code", "text"),
    [
        ("2023", "Processor Does Not Support This Feature"),
        ("2024", "Card Type Not Enabled"),
    ],
)
def test_braintree_hard_setup_declines_advise_no_retry(
    adapter,  # noqa: F811
    mocked,  # noqa: F811
    processor_code,
    text,
):
    refused = braintree_refusal(
        adapter, mocked, braintree_declined(processor_code, text)
    )

    assert (refused.code, refused.provider_code) == ("card_declined", processor_code)
    assert refused.advice_code == DO_NOT_TRY_AGAIN
