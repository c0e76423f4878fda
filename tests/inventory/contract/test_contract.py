"""The inventory contract: every adapter, through the shared ProviderClient,
pages stock levels, upserts purchase orders idempotently, answers "not found"
as None, and classifies 401 / 429 / 5xx / timeouts like every other kind
(tests/contract/runner.py). Harnesses are ``harness_<provider>.py`` modules
next to this file (README.md)."""

from pathlib import Path
from types import ModuleType

import pytest
import responses

from integrations.models import ProviderCall
from integrations.webhooks.messages import WebhookMessage
from inventory.providers.base import (
    InventoryAdapter,
    LevelsQuery,
    PurchaseOrderStatus,
    StockLevelRecord,
)
from tests.contract.runner import Case, Contract, last_call_outcome
from tests.inventory.contract.harness import same_levels

pytestmark = pytest.mark.django_db


def _levels(adapter: InventoryAdapter, arranged: object) -> object:
    # Error scenarios arranged only through the account ask for a first page.
    query = arranged if isinstance(arranged, LevelsQuery) else LevelsQuery()
    return adapter.levels(query)


def _levels_paging(case: Case) -> None:
    query = case.arranged.query
    records: list[StockLevelRecord] = []
    pages = 0
    while True:
        page = case.adapter.levels(query)
        pages += 1
        records.extend(page.records)
        assert last_call_outcome(case.account) == "success"
        if not page.has_more:
            break
        assert page.next_cursor, "a page with more after it names its continuation"
        assert pages < 100, "paging does not end"
        query = query.next(page)
    assert pages >= case.arranged.min_pages
    assert same_levels(records, case.arranged.expected), records


def _po_create_idempotent(case: Case) -> None:
    request = case.arranged
    first = case.adapter.purchase_order_upsert(request)
    again = case.adapter.purchase_order_upsert(request)
    assert first.external_reference
    assert again.external_reference == first.external_reference
    assert first.status not in (PurchaseOrderStatus.CANCELLED,)
    found = case.adapter.purchase_order_status(first.external_reference)
    assert found is not None
    assert found.external_reference == first.external_reference
    assert last_call_outcome(case.account) == "success"


def _po_not_found(case: Case) -> None:
    assert case.adapter.purchase_order_status(case.arranged) is None
    assert last_call_outcome(case.account) == "rejected"


def _reserve_release(case: Case) -> None:
    assert case.adapter.supports_reservations
    request = case.arranged
    held = case.adapter.reserve(request)
    again = case.adapter.reserve(request)
    assert held.reference == request.reference
    assert again.external_reference == held.external_reference
    case.adapter.release(reference=request.reference, idempotency_key="rel-1")
    case.adapter.release(reference=request.reference, idempotency_key="rel-2")
    assert last_call_outcome(case.account) == "success"
    # Both releases reached the ERP as releases (not a silent no-op).
    operations = ProviderCall.objects.filter(account=case.account).order_by("-pk")
    latest = list(operations.values_list("operation", flat=True)[:2])
    assert [name.endswith("release") for name in latest] == [True, True], latest


def _inventory_event(case: Case, messages: list[WebhookMessage]) -> None:
    event = case.adapter.parse_inventory_event(messages[0])
    assert event is not None
    assert same_levels(event.levels, case.arranged.levels), event.levels


CONTRACT = Contract(
    kind="inventory",
    adapter_class=InventoryAdapter,
    directory=Path(__file__).parent,
    package=__package__,
    operation=_levels,
    checks={
        "levels_paging": _levels_paging,
        "levels_since": _levels_paging,
        "po_create_idempotent": _po_create_idempotent,
        "po_not_found": _po_not_found,
        "reserve_release": _reserve_release,
    },
    webhook_check=_inventory_event,
)


@pytest.mark.parametrize(("harness", "scenario", "variant"), CONTRACT.cases())
def test_contract(
    harness: ModuleType,
    scenario: str,
    variant: str | None,
    rsps: responses.RequestsMock,
) -> None:
    CONTRACT.run(harness, scenario, variant, rsps)
