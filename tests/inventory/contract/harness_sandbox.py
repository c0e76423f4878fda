"""Contract harness for the inventory sandbox (inventory/providers/sandbox.py):
an ERP kept in the database; faults from account settings (tests/contract/
sandbox.py, plus ``rate_limited`` for 429); webhooks signed as its own
deliveries are."""

import uuid
from datetime import timedelta

from django.utils import timezone

from integrations.models import ProviderAccount
from integrations.providers import sandbox_webhooks
from inventory.models import SandboxErpLevel
from inventory.providers.base import (
    LevelsQuery,
    PurchaseOrderLine,
    PurchaseOrderRequest,
    ReservationLine,
    ReserveRequest,
    StockLevelRecord,
)
from inventory.providers.sandbox import UPDATED_EVENT, event_data
from tests.contract.sandbox import SECRET, SandboxHarness
from tests.inventory.contract.harness import InventoryWebhook, LevelsPaging

PROVIDER = "sandbox"
NOT_APPLICABLE = {
    "malformed_json": "the sandbox runs in-process and has no wire format",
}
_sandbox = SandboxHarness(kind="inventory", event_type=UPDATED_EVENT)

make_account = _sandbox.make_account
unauthorized_401 = _sandbox.unauthorized_401
connection_refused = _sandbox.connection_refused
server_error_500 = _sandbox.server_error_500
read_timeout = _sandbox.read_timeout
webhook_forged = _sandbox.webhook_forged
webhook_stale = _sandbox.webhook_stale


def rate_limited_429(rsps: object, account: ProviderAccount) -> LevelsQuery:
    account.settings = {"rate_limited": True}
    account.save()
    return LevelsQuery()


def _seed(account: ProviderAccount, count: int) -> list[SandboxErpLevel]:
    old = timezone.now() - timedelta(days=1)
    return [
        SandboxErpLevel.objects.create(
            account=account,
            sku=f"SKU-{n:03d}",
            location_code="MAIN",
            on_hand=n * 3,
            modified_at=old,
        )
        for n in range(count)
    ]


def _record(row: SandboxErpLevel) -> StockLevelRecord:
    return StockLevelRecord(row.sku, row.location_code, row.on_hand, row.modified_at)


def levels_paging(rsps: object, account: ProviderAccount) -> LevelsPaging:
    rows = _seed(account, 5)
    expected = tuple(_record(row) for row in rows)
    return LevelsPaging(query=LevelsQuery(limit=2), expected=expected, min_pages=3)


def levels_since(rsps: object, account: ProviderAccount) -> LevelsPaging:
    rows = _seed(account, 6)
    since = timezone.now() - timedelta(minutes=5)
    changed = rows[1::2]
    SandboxErpLevel.objects.filter(pk__in=[r.pk for r in changed]).update(
        modified_at=timezone.now()
    )
    expected = tuple(
        _record(row)
        for row in SandboxErpLevel.objects.filter(pk__in=[r.pk for r in changed])
    )
    return LevelsPaging(query=LevelsQuery(since=since, limit=2), expected=expected)


def po_create_idempotent(
    rsps: object, account: ProviderAccount
) -> PurchaseOrderRequest:
    return PurchaseOrderRequest(
        external_id=f"po_{uuid.uuid4().hex[:12]}",
        supplier_code="ACME",
        location_code="MAIN",
        currency="EUR",
        lines=(PurchaseOrderLine("SKU-001", 10, 250),),
    )


def po_not_found(rsps: object, account: ProviderAccount) -> str:
    return "SPO-DOES-NOT-EXIST"


def reserve_release(rsps: object, account: ProviderAccount) -> ReserveRequest:
    _seed(account, 3)
    return ReserveRequest(
        reference=f"res_{uuid.uuid4().hex[:12]}",
        lines=(ReservationLine("SKU-002", "MAIN", 4),),
        idempotency_key=uuid.uuid4().hex,
    )


def webhook_valid(rsps: object, account: ProviderAccount) -> InventoryWebhook:
    levels = (StockLevelRecord("SKU-007", "MAIN", 12, timezone.now()),)
    body = sandbox_webhooks.webhook_body(UPDATED_EVENT, event_data(levels))
    headers = sandbox_webhooks.webhook_headers(
        secret=SECRET, webhook_id=f"msg_{uuid.uuid4().hex}", body=body
    )
    return InventoryWebhook(
        body=body, headers=headers, event_type=UPDATED_EVENT, levels=levels
    )
