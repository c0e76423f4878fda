"""The shipping contract: the kind-neutral scenarios (tests/contract/runner.py),
run through the health check until the shipping operations exist; every
``harness_<provider>.py`` next to this file takes part."""

from pathlib import Path
from types import ModuleType

import pytest
import responses

from shipping.providers.base import ShippingAdapter
from tests.contract.runner import Contract

pytestmark = pytest.mark.django_db

CONTRACT = Contract(
    kind="shipping",
    adapter_class=ShippingAdapter,
    directory=Path(__file__).parent,
    package=__package__,
)


@pytest.mark.parametrize(("harness", "scenario", "variant"), CONTRACT.cases())
def test_contract(
    harness: ModuleType,
    scenario: str,
    variant: str | None,
    rsps: responses.RequestsMock,
) -> None:
    CONTRACT.run(harness, scenario, variant, rsps)
