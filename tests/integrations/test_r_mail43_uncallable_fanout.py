"""Review of mail43: credentials no configured key opens, read before the
shared client's call (an adapter's header, an SDK client), are the account's
configuration, nothing sent, in a fan-out as in failover: ``not_processed``
/ ``credentials_unreadable``, not a bug reported ``unknown``
(``unexpected_error``) beside the other accounts' answers."""

import pytest

from integrations.fanout import run_on_accounts
from integrations.models import ProviderAccount
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_unreadable_credentials_are_not_processed_in_a_fan_out():
    broken = ProviderAccountFactory(slug="fan-broken", priority=1)
    ProviderAccount.objects.filter(pk=broken.pk).update(
        credentials_encrypted="not-a-fernet-token"
    )
    ProviderAccountFactory(slug="fan-ok", priority=2)

    result = run_on_accounts(
        "payments",
        lambda adapter: sorted(adapter.credentials),
        operation_name="read_credentials",
        deadline_seconds=5,
    )

    assert [r.account for r in result.results] == ["fan-ok"]
    [failure] = result.failures
    assert (failure.account, failure.outcome, failure.code) == (
        "fan-broken",
        "not_processed",
        "credentials_unreadable",
    )
    assert "cannot be decrypted" in failure.message
