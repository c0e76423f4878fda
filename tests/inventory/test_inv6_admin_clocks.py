"""Staff's pages agree with the database's clock, the one holds expire by:
the reservation list's status filter keeps to what its status column shows
(a hold whose time is up is listed under "Expired", not "Active"), and a
sync run's ERP time is "ahead of our clock" by the database's clock, not
by the web process's."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from integrations.clock import database_now
from integrations.testing.clocks import machine_clock, shared_by_machines
from inventory import services
from inventory.models import Reservation, SyncRun
from inventory.services import LineRequest
from tests.factories import ProviderAccountFactory
from tests.inventory.factories import StockLevelFactory

pytestmark = pytest.mark.django_db

SKEW = 240  # a machine whose NTP broke: four minutes off


def _listed(admin_client, status: str) -> list[str]:
    page = admin_client.get(
        reverse("admin:inventory_reservation_changelist"), {"status": status}
    )
    assert page.status_code == 200
    return sorted(r.order_id for r in page.context["cl"].result_list)


@pytest.fixture
def holds() -> None:
    StockLevelFactory(sku="A", on_hand=10)
    for order in ("live", "due"):
        services.reservation_create(
            order_id=order, lines=[LineRequest("A", 1)], ttl_seconds=120
        )
    # Its time is up, not yet swept: the list shows it "expired".
    Reservation.objects.filter(order_id="due").update(
        expires_at=database_now() - timedelta(seconds=5)
    )
    released = services.reservation_create(
        order_id="gone", lines=[LineRequest("A", 1)], ttl_seconds=120
    )
    services.reservation_release(reservation=released)


def test_the_active_filter_leaves_out_holds_whose_time_is_up(admin_client, holds):
    assert _listed(admin_client, "active") == ["live"]
    assert _listed(admin_client, "expired") == ["due"]
    assert _listed(admin_client, "released") == ["gone"]


def test_the_filter_reads_the_databases_clock(admin_client, holds):
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")
    with machine_clock(-SKEW):  # this web process thinks "due" is still live
        assert _listed(admin_client, "active") == ["live"]
    with machine_clock(SKEW):  # and "live" as good as gone
        assert _listed(admin_client, "expired") == ["due"]


def test_each_filtered_row_shows_the_status_filtered_on(admin_client, holds):
    for status in ("active", "expired"):
        page = admin_client.get(
            reverse("admin:inventory_reservation_changelist"), {"status": status}
        )
        shown = re.findall(
            r'class="field-effective_status">([^<]*)<', page.content.decode()
        )
        assert shown == [status]


def test_an_unknown_status_in_the_address_lists_nothing_wrong(admin_client, holds):
    page = admin_client.get(
        reverse("admin:inventory_reservation_changelist"), {"status": "bogus"}
    )
    assert page.status_code in (200, 302)


def _high_water_cell(admin_client, run: SyncRun) -> str:
    page = admin_client.get(reverse("admin:inventory_syncrun_change", args=[run.pk]))
    assert page.status_code == 200
    return page.content.decode()


def test_high_water_ahead_is_measured_by_the_databases_clock(admin_client):
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")
    erp = ProviderAccountFactory(kind="inventory", slug="erp-inv6")
    # Ten minutes ahead of the database: past the five-minute skew allowed.
    ahead = SyncRun.objects.create(
        account=erp,
        status="succeeded",
        high_water=database_now() + timedelta(minutes=10),
    )
    # One minute ahead: credible.
    fine = SyncRun.objects.create(
        account=erp,
        status="succeeded",
        high_water=database_now() + timedelta(minutes=1),
    )
    with machine_clock(SKEW * 2):  # a web process eight minutes fast
        assert "ahead of our clock" in _high_water_cell(admin_client, ahead)
    with machine_clock(-SKEW * 2):  # eight minutes slow
        assert "ahead of our clock" not in _high_water_cell(admin_client, fine)
