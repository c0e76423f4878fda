"""The Braintree account and the HTTP mock the saved-method duplicate
look-up tests share (imported as fixtures)."""

import pytest
import responses

from integrations.models import ProviderAccount
from tests.factories import ProviderAccountFactory
from tests.payments.test_reconcile_providers import BT_MERCHANT, FAST


@pytest.fixture(name="braintree")
def braintree_account(db) -> ProviderAccount:
    return ProviderAccountFactory(
        provider="braintree",
        slug="braintree-main",
        priority=1,
        settings=dict(FAST),
        credentials={
            "merchant_id": BT_MERCHANT,
            "public_key": "x8t4pq2kz6w9yj3n",
            "private_key": "5c1e9a7f3b2d4e6f8a0b1c2d3e4f5a6b",
        },
    )


@pytest.fixture(name="rsps")
def rsps_mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
