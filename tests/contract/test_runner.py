"""The runner itself: an adapter that breaks the contract fails it."""

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import pytest
import responses

from integrations.errors import NotProcessed
from integrations.providers.base import HealthResult, WebhookMessage
from shipping.providers.base import ShippingAdapter
from tests.contract.runner import Contract, Webhook
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


class CarelessAdapter(ShippingAdapter):
    """Calls the provider without the client and accepts any webhook."""

    code = "careless"
    display_name = "Careless"

    def health_check(self) -> HealthResult:
        raise NotProcessed("refused", code="connection_refused")

    # The shipping operations are beside the point here: the runner's
    # scenarios below run the health check.
    def carrier_rates(self, request: object) -> list:
        raise NotImplementedError

    carrier_create_label = carrier_void_label = carrier_track = carrier_rates

    def verify_webhook(
        self, *, body: bytes, headers: Mapping[str, str], url: str
    ) -> WebhookMessage:
        return WebhookMessage(event_type="x", dedupe_key="1", payload={})


CONTRACT = Contract(
    kind="shipping",
    adapter_class=ShippingAdapter,
    directory=Path(__file__).parent,
    package=__package__,
)


@pytest.fixture
def harness(settings) -> ModuleType:
    settings.SWITCHYARD_ADAPTERS = {
        **settings.SWITCHYARD_ADAPTERS,
        "shipping": {"careless": f"{__name__}.CarelessAdapter"},
    }
    module = ModuleType("harness_careless")
    module.PROVIDER = "careless"
    module.make_account = lambda: ProviderAccountFactory(
        kind="shipping", provider="careless"
    )
    module.connection_refused = lambda rsps, account: None
    module.webhook_forged = lambda rsps, account: Webhook(body=b"{}", headers={})
    return module


def test_a_call_that_bypasses_the_client_fails(harness, rsps):
    with pytest.raises(AssertionError, match="did not go through ProviderClient"):
        CONTRACT.run(harness, "connection_refused", None, rsps)


def test_accepting_a_forged_webhook_fails(harness, rsps):
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        CONTRACT.run(harness, "webhook_forged", None, rsps)


def test_a_scenario_neither_arranged_nor_excused_fails(harness, rsps):
    with pytest.raises(pytest.fail.Exception, match="has no read_timeout"):
        CONTRACT.run(harness, "read_timeout", None, rsps)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
