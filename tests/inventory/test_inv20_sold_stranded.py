"""Units sold here at an ERP that keeps no holds wait in ``sold_unseen``
until a figure falls by them. A goods receipt and the booking read in one
figure (it rose) look like no booking: the units stay off. Every later
comparison expects that figure, so they stay off for good unless the ERP's
figure falls for another reason, and each such coincidence strands more:
the level shows fewer units than the ERP has, and nothing showed it. The
rule stays (a rise cannot tell a receipt from a booking, and showing sold
units sellable oversells); the stranded units are shown on the level's
page and staff who checked the ERP let its figure stand."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from inventory import services
from inventory.models import StockLevel
from inventory.providers.base import StockLevelRecord
from inventory.services import LineRequest
from tests.factories import ProviderAccountFactory
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import StockLevelFactory

pytestmark = pytest.mark.django_db


def _read(erp, figure: int, at) -> None:
    services.stock_levels_apply(
        account=erp,
        records=[StockLevelRecord("A", "MAIN", figure, modified_at=at)],
        now=timezone.now(),
    )


def _sold(units: int) -> None:
    reservation = services.reservation_create(
        order_id=f"o-{units}-{timezone.now().timestamp()}",
        lines=[LineRequest("A", units, location_code="MAIN")],
    )
    services.reservation_confirm(reservation=reservation)


@pytest.fixture
def stranded():
    """10 on hand; 3 sold here; the ERP receives 5 and books the 3 before
    the next read: its figure is 12, read as no booking (on hand 9)."""
    erp = tg.make_account()  # TradeGecko keeps no holds
    start = timezone.now() - timedelta(hours=2)
    StockLevelFactory(sku="A", on_hand=10, source=erp, erp_modified_at=start)
    _sold(3)
    _read(erp, 12, timezone.now() + timedelta(seconds=1))
    level = StockLevel.objects.get(sku="A")
    assert (level.on_hand, level.sold_unseen) == (9, 3)  # 3 units stranded
    return erp, level


def test_the_stranded_units_are_shown_on_the_levels_page(stranded, admin_client):
    _, level = stranded

    page = admin_client.get(
        reverse("admin:inventory_stocklevel_change", args=[level.pk])
    )

    text = page.content.decode().lower()
    assert "sold here, not yet in the erp" in text
    assert ">3 (since " in text


def test_staff_let_the_erps_figure_stand(stranded, admin_client):
    erp, level = stranded

    # revinv20: the action shows what it gives back first; confirmed with
    # what was shown (a sale since is not in the figure staff checked).
    response = admin_client.post(
        reverse("admin:inventory_stocklevel_changelist"),
        {
            "action": "erp_figure_stands",
            "_selected_action": [level.pk],
            "confirm": "yes",
            f"units_{level.pk}": str(level.sold_unseen),
            f"since_{level.pk}": level.sold_unseen_at.isoformat(),
        },
        follow=True,
    )

    assert response.status_code == 200
    level.refresh_from_db()
    assert (level.on_hand, level.sold_unseen, level.sold_unseen_at) == (12, 0, None)
    assert "1 level" in response.content.decode()
    # The next read of the same figure keeps it: nothing is taken off again.
    _read(erp, 12, timezone.now() + timedelta(seconds=2))
    level.refresh_from_db()
    assert level.on_hand == 12


def test_the_action_needs_the_change_permission(stranded, client):
    _, level = stranded
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_stocklevel"))
    client.force_login(viewer)

    client.post(
        reverse("admin:inventory_stocklevel_changelist"),
        {"action": "erp_figure_stands", "_selected_action": [level.pk]},
    )

    level.refresh_from_db()
    assert (level.on_hand, level.sold_unseen) == (9, 3)


def test_a_level_without_stranded_units_is_left_as_it_is():
    erp = ProviderAccountFactory(kind="inventory", slug="erp-nohold-2")
    level = StockLevelFactory(sku="B", on_hand=4, source=erp)

    stood = services.stock_levels_erp_figure_stands(
        seen={level.pk: (2, timezone.now())}
    )

    level.refresh_from_db()
    assert (stood, level.on_hand) == ([], 4)
