"""revpay22 (Square): declines the gateways document as final (the account is not
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

from integrations.errors import Rejected
from payments.services.recurring_manage import HARD_DECLINES
from tests.payments.providers.test_square import (  # noqa: F401 (fixtures)
    SANDBOX,
    account,
    adapter,
    api,
    payment,
)

pytestmark = pytest.mark.django_db


def test_square_invalid_account_is_a_hard_decline(adapter, api):  # noqa: F811
    # The shape of Square's errors (tests/fixtures/square/errors.json).
    api.post(
        f"{SANDBOX}/v2/payments",
        status=402,
        json={
            "errors": [
                {
                    "category": "PAYMENT_METHOD_ERROR",
                    "code": "INVALID_ACCOUNT",
                    "detail": "Authorization error: 'INVALID_ACCOUNT'",
                }
            ]
        },
    )

    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.provider_code) == (
        "incorrect_number",
        "INVALID_ACCOUNT",
    )
    assert caught.value.code in HARD_DECLINES
