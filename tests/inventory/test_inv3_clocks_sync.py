"""A sync page's asked and answered times and a confirm's send time are
compared with the confirm's acknowledgement, stamped by the database's
clock; so they are the database's too. A sync worker or forward worker
whose clock is minutes off neither throws away a figure read after the
acknowledgement, nor applies one read before it or while a confirm awaits
its answer (the sold units off twice). A webhook's level is applied at the
database's time too: a handler whose clock runs ahead does not count a live
hold as expired in the state it announces."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.clock import database_now
from integrations.errors import Unknown
from integrations.models import WebhookEvent
from integrations.testing.clocks import machine_clock, shared_by_machines
from integrations.webhooks.services import webhook_event_process
from inventory import services
from inventory.models import (
    ForwardOperation,
    ReservationForward,
    SandboxErpLevel,
    StockState,
)
from inventory.providers import sandbox
from inventory.providers.base import StockLevelRecord
from inventory.services import LineRequest
from tests.factories import ProviderAccountFactory
from tests.inventory.test_sold import (  # noqa: F401
    _confirm_then,
    _erp_at,
    _level,
    _run_forward,
    _sell,
    apply_path,
    main_location,
)
from tests.inventory.test_webhooks import _post

pytestmark = pytest.mark.django_db

SKEW = 240  # a machine whose NTP broke: four minutes off


@pytest.fixture(autouse=True)
def _two_machines() -> None:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")


def test_a_page_asked_after_the_ack_by_a_slow_sync_worker_is_applied(
    apply_path,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    erp = _erp_at(15)
    sold = _sell(5, django_capture_on_commit_callbacks)
    _run_forward(sold, ForwardOperation.RESERVE)
    _run_forward(sold, ForwardOperation.CONFIRM)
    assert (_level().on_hand, _level().sold_unsent) == (10, 0)
    # After the acknowledgement the ERP receives 10 more.
    SandboxErpLevel.objects.update(on_hand=20, modified_at=timezone.now())

    with machine_clock(-SKEW):
        services.inventory_sync(account=erp, full=True)

    assert _level().on_hand == 20


def test_a_page_asked_before_the_ack_by_a_fast_sync_worker_is_not_applied(
    apply_path,  # noqa: F811
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    """The ERP computes the page (the sale not yet taken off), then our
    confirm is sent and acknowledged, then the page's answer arrives: it
    does not show the sale, which is no longer unsent."""
    erp = _erp_at(15)
    sold = _sell(5, django_capture_on_commit_callbacks)
    _run_forward(sold, ForwardOperation.RESERVE)
    real_levels = sandbox.SandboxInventoryAdapter.levels

    def computed_then_confirmed(self, query):
        page = real_levels(self, query)
        with machine_clock(0):  # the forward worker, on another machine
            _run_forward(sold, ForwardOperation.CONFIRM)
        return page

    monkeypatch.setattr(
        sandbox.SandboxInventoryAdapter, "levels", computed_then_confirmed
    )
    with machine_clock(SKEW):
        services.inventory_sync(account=erp, full=True)

    assert SandboxErpLevel.objects.get().on_hand == 10
    assert (_level().on_hand, _level().sold_unsent) == (10, 0)


def test_a_page_asked_after_a_fast_forward_workers_send_is_not_applied(
    apply_path,  # noqa: F811
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    """The confirm is booked at the ERP, its answer lost: it awaits a retry.
    A page read meanwhile may show the sale: applied as figure less the
    unsent units, the 5 sold would be off twice."""
    erp = _erp_at(15)
    sold = _sell(5, django_capture_on_commit_callbacks)
    _run_forward(sold, ForwardOperation.RESERVE)

    def lost_answer():
        raise Unknown("read timeout", code="timeout")

    _confirm_then(monkeypatch, lost_answer)
    forward = ReservationForward.objects.get(operation=ForwardOperation.CONFIRM)
    with machine_clock(SKEW):
        services.hold_forward_run(forward_id=forward.pk)
    assert SandboxErpLevel.objects.get().on_hand == 10

    services.inventory_sync(account=erp, full=True)

    assert (_level().on_hand, _level().sold_unsent) == (10, 5)
    # The send is stamped by the database's clock.
    forward.refresh_from_db()
    assert abs(forward.awaiting_since - database_now()) < timedelta(seconds=60)


@pytest.fixture
def hooks_erp():
    return ProviderAccountFactory(kind="inventory", slug="erp-hooks")


def test_a_fast_webhook_handler_keeps_a_live_hold_in_the_levels_state(
    hooks_erp, settings
):
    settings.INVENTORY_RESERVATION_TTL_SECONDS = 120
    settings.INVENTORY_LOW_STOCK_THRESHOLD = 2
    services.stock_levels_apply(
        account=hooks_erp,
        records=[StockLevelRecord("A", "MAIN", 5, timezone.now())],
        now=timezone.now(),
    )
    services.reservation_create(order_id="o", lines=[LineRequest("A", 5)])
    assert _level().state == StockState.OUT_OF_STOCK

    # The ERP's figure drops by one: the live hold is short of a unit.
    response = _post([StockLevelRecord("A", "MAIN", 4, timezone.now())])
    assert response.status_code < 300, response.content
    with machine_clock(SKEW):
        webhook_event_process(event_id=WebhookEvent.objects.get().pk)

    level = _level()
    assert (level.on_hand, level.reserved) == (4, 5)
    assert level.state == StockState.OVERSOLD
