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

from integrations.errors import Rejected
from payments.services.recurring_manage import HARD_DECLINES
from tests.payments.providers.test_braintree import (  # noqa: F401 (fixtures)
    TRANSACTIONS,
    XML,
    account,
    adapter,
    load,
    mocked,
    payment,
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
    body = (
        load("error_processor_declined.xml")
        .replace(
            "<processor-response-code>2000<",
            f"<processor-response-code>{processor_code}<",
        )
        .replace("Do Not Honor", text)
    )
    mocked.post(TRANSACTIONS, status=422, body=body, **XML)

    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.provider_code) == (
        "incorrect_number",
        processor_code,
    )
    assert caught.value.code in HARD_DECLINES
