"""Review of mail43 (integrations/client/classify.py: credentials no key
opens are a configuration error, nothing sent): a payment gateway whose
stored credentials cannot be decrypted is an account fault, nothing sent,
so the payment fails over to the next account, and is never left
``unknown`` for reconciliation. Stripe and Square read their key before
the shared client's call (the SDK client, the Authorization header): there
the raw decrypt error left the failover run, the API answered 503 and the
payment stayed pending although a working account was next in line."""

import uuid

import pytest
import responses

from integrations.models import ProviderAccount
from payments.models import Payment
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/payments/"


@pytest.mark.parametrize("provider", ["stripe", "square", "sandbox"])
def test_unreadable_credentials_fail_over_to_the_next_account(api, provider):
    broken = ProviderAccountFactory(
        slug=f"gw-{provider}", provider=provider, priority=1
    )
    ProviderAccount.objects.filter(pk=broken.pk).update(
        credentials_encrypted="not-a-fernet-token"
    )
    ProviderAccountFactory(slug="sbx-next", priority=2)

    with responses.RequestsMock():  # nothing goes out to the broken gateway
        response = api.post(
            URL,
            {
                "order_id": "o-43",
                "amount": 1050,
                "currency": "EUR",
                "source_token": "tok_success",
            },
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )

    assert response.status_code == 201, response.json()
    assert (response.json()["status"], response.json()["provider"]) == (
        "captured",
        "sandbox",
    )
    payment = Payment.objects.get()
    tried = [(a.account.slug, a.outcome) for a in payment.attempts.order_by("pk")]
    assert tried == [(f"gw-{provider}", "not_processed"), ("sbx-next", "succeeded")]
