"""Units sold here that the ERP's figure does not show yet: a sync or a
webhook never gives them back, for an ERP that keeps holds (until our
confirm forward is done) and one that keeps none (until its figure moves),
on the PostgreSQL set-based apply and on the ORM one."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.utils import timezone

from inventory import services
from inventory.models import (
    ForwardOperation,
    ForwardStatus,
    ReservationForward,
    SandboxErpLevel,
    StockLevel,
)
from inventory.providers.base import StockLevelRecord
from inventory.services import LineRequest
from tests.factories import ProviderAccountFactory
from tests.inventory.contract import harness_netsuite
from tests.inventory.factories import StockLevelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["set_based", "orm"])
def apply_path(request, monkeypatch):
    """Both apply paths: PostgreSQL's raw upsert, and the ORM's (what SQLite
    runs), forced here on PostgreSQL too."""
    if request.param == "orm":
        monkeypatch.setattr(
            "inventory.services.apply.connection", SimpleNamespace(vendor="orm")
        )
    elif connection.vendor != "postgresql":
        pytest.skip("the set-based path is PostgreSQL's")
    return request.param


def _level(sku: str = "A") -> StockLevel:
    return StockLevel.objects.get(sku=sku)


def _sell(quantity: int, capture) -> object:
    """Reserve and confirm; the forwards stay queued (not run)."""
    with capture(execute=False):
        sold = services.reservation_create(
            order_id="o1", lines=[LineRequest("A", quantity)]
        )
        services.reservation_confirm(reservation=sold)
    return sold


def _run_forward(reservation, operation: str) -> None:
    forward = ReservationForward.objects.get(
        reservation=reservation, operation=operation
    )
    services.hold_forward_run(forward_id=forward.pk)
    forward.refresh_from_db()
    assert forward.status == ForwardStatus.DONE


def test_an_erp_with_holds_shows_the_sale_once_the_confirm_is_done(
    apply_path, django_capture_on_commit_callbacks
):
    erp = ProviderAccountFactory(kind="inventory", slug="erp")
    SandboxErpLevel.objects.create(
        account=erp,
        sku="A",
        location_code="MAIN",
        on_hand=10,
        modified_at=timezone.now() - timedelta(hours=1),
    )
    services.inventory_sync(account=erp, full=True)
    sold = _sell(10, django_capture_on_commit_callbacks)
    assert (_level().on_hand, _level().sold_unsent) == (0, 10)

    # The confirm forward is queued (or retrying) while the ERP receives 5.
    SandboxErpLevel.objects.update(on_hand=15, modified_at=timezone.now())
    services.inventory_sync(account=erp, full=True)
    assert _level().on_hand == 5

    before_the_ack = timezone.now()
    _run_forward(sold, ForwardOperation.RESERVE)
    _run_forward(sold, ForwardOperation.CONFIRM)
    assert SandboxErpLevel.objects.get().on_hand == 5  # the ERP took the 10 off
    assert (_level().on_hand, _level().sold_unsent) == (5, 0)

    # A page read before the ERP acknowledged, applied after: not applied.
    result = services.stock_levels_apply(
        account=erp,
        records=[StockLevelRecord("A", "MAIN", 15, _level().erp_modified_at)],
        now=timezone.now(),
        as_of=before_the_ack,
    )
    assert (result.ignored, _level().on_hand) == (1, 5)

    # Read from now on, the ERP's figure shows the sale: nothing twice.
    services.inventory_sync(account=erp, full=True)
    assert _level().on_hand == 5
    SandboxErpLevel.objects.update(on_hand=25, modified_at=timezone.now())
    services.inventory_sync(account=erp)
    assert _level().on_hand == 25


def test_an_erp_without_holds_shows_the_sale_when_its_figure_moves(
    apply_path, django_capture_on_commit_callbacks
):
    netsuite = harness_netsuite.make_account()
    read = timezone.now() - timedelta(hours=1)

    def apply(on_hand, modified_at):
        record = StockLevelRecord("A", "MAIN", on_hand, modified_at)
        services.stock_levels_apply(
            account=netsuite, records=[record], now=timezone.now()
        )
        return _level()

    apply(10, read)
    _sell(4, django_capture_on_commit_callbacks)
    assert not ReservationForward.objects.exists()  # NetSuite is told nothing
    assert (_level().on_hand, _level().sold_unseen) == (6, 4)

    # The same figure again, with its time or (a webhook) without one.
    assert apply(10, read).on_hand == 6
    assert apply(10, None).on_hand == 6
    # The ERP books the sale: its figure moves, and shows it.
    level = apply(6, timezone.now())
    assert (level.on_hand, level.sold_unseen, level.sold_unseen_at) == (6, 0, None)
    assert apply(16, timezone.now()).on_hand == 16


def test_a_level_no_erp_supplies_keeps_no_count(django_capture_on_commit_callbacks):
    StockLevelFactory(sku="A", on_hand=10)
    _sell(3, django_capture_on_commit_callbacks)
    level = _level()
    assert (level.on_hand, level.sold_unsent, level.sold_unseen) == (7, 0, 0)
