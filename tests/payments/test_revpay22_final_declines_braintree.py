"""revpay22 (Braintree): declines the gateways document as final (the account is not
on record at the issuer, or closed) are mapped to a hard code
(``incorrect_number``: "its number or account invalid or closed"), as
Braintree's 2007 and PayPal's 1330 already were, so a recurring charge they
stop is not resumed on that card (recurring_manage.HARD_DECLINES).

- Square ``INVALID_ACCOUNT``: "The issuer was not able to locate the
  account on record." (Square's OpenAPI, provider-specs/square/api.json).
- Braintree 2009 "No Such Issuer" and 2108 "Closed Card": hard declines in
  Braintree's declines table (2009 also among the codes Mastercard forbids
  retrying)."""

import pytest

from payments.services.recurring_manage import HARD_DECLINES
from tests.payments.decline_answers import braintree_declined, braintree_refusal
from tests.payments.providers.test_braintree import (  # noqa: F401 (fixtures)
    account,
    adapter,
    mocked,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("processor_code", "text"),
    [("2009", "No Such Issuer"), ("2108", "Closed Card")],
)
def test_braintree_final_declines_are_hard(
    adapter,  # noqa: F811
    mocked,  # noqa: F811
    processor_code,
    text,
):
    refused = braintree_refusal(
        adapter, mocked, braintree_declined(processor_code, text)
    )

    assert (refused.code, refused.provider_code) == (
        "incorrect_number",
        processor_code,
    )
    assert refused.code in HARD_DECLINES
