"""The inventory contract: the kind-neutral scenarios (tests/contract/runner.py),
run through the health check until the inventory operations exist; every
``harness_<provider>.py`` next to this file takes part."""

from pathlib import Path
from types import ModuleType

import pytest
import responses

from inventory.providers.base import InventoryAdapter
from tests.contract.runner import Contract

pytestmark = pytest.mark.django_db

CONTRACT = Contract(
    kind="inventory",
    adapter_class=InventoryAdapter,
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
