"""The staff action "The ERP's figure shows the units sold here" gives back
units a level holds off the ERP's figure. Staff checked the ERP's figure at
some moment: units sold here after it (a sale while the page was open, or
while the action runs) are not in that figure, so giving them back would
show sold units as sellable. The action shows what it would give back and
asks to confirm; the confirmation gives back at most what was shown, only
while no sale came since, once, and leaves an entry in the level's history."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from inventory import services
from inventory.models import StockLevel
from inventory.providers.base import StockLevelRecord
from inventory.services import LineRequest
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import StockLevelFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:inventory_stocklevel_changelist"


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
    erp = tg.make_account()
    start = timezone.now() - timedelta(hours=2)
    StockLevelFactory(sku="A", on_hand=10, source=erp, erp_modified_at=start)
    _sold(3)
    _read(erp, 12, timezone.now() + timedelta(seconds=1))
    level = StockLevel.objects.get(sku="A")
    assert (level.on_hand, level.sold_unseen) == (9, 3)
    return erp, level


def _ask(client, level):
    return client.post(
        reverse(CHANGELIST),
        {"action": "erp_figure_stands", "_selected_action": [level.pk]},
    )


def _confirm(client, level, units: int, since: str):
    return client.post(
        reverse(CHANGELIST),
        {
            "action": "erp_figure_stands",
            "_selected_action": [level.pk],
            "confirm": "yes",
            f"units_{level.pk}": str(units),
            f"since_{level.pk}": since,
        },
        follow=True,
    )


def _shown(level) -> tuple[int, str]:
    # What the confirmation page carried for the level.
    return level.sold_unseen, level.sold_unseen_at.isoformat()


def test_the_action_shows_what_it_gives_back_and_changes_nothing_yet(
    stranded, admin_client
):
    _, level = stranded

    page = _ask(admin_client, level)

    assert page.status_code == 200
    text = page.content.decode()
    assert 'name="confirm"' in text
    assert f'name="units_{level.pk}" value="3"' in text
    level.refresh_from_db()
    assert (level.on_hand, level.sold_unseen) == (9, 3)


def test_confirmed_it_gives_back_the_units_shown_and_records_who(
    stranded, admin_client, admin_user
):
    _, level = stranded
    units, since = _shown(level)

    done = _confirm(admin_client, level, units, since)

    level.refresh_from_db()
    assert (level.on_hand, level.sold_unseen, level.sold_unseen_at) == (12, 0, None)
    assert "3 unit(s)" in done.content.decode()
    entry = LogEntry.objects.get(object_id=str(level.pk))
    assert entry.user == admin_user
    assert "3" in entry.get_change_message()


def test_a_sale_after_the_page_was_shown_is_not_given_back(stranded, admin_client):
    _, level = stranded
    units, since = _shown(level)
    _sold(1)  # sold here after staff checked the ERP: not in its figure

    done = _confirm(admin_client, level, units, since)

    level.refresh_from_db()
    assert (level.on_hand, level.sold_unseen) == (8, 4)
    assert "check" in done.content.decode().lower()
    assert not LogEntry.objects.filter(object_id=str(level.pk)).exists()


def test_a_double_submit_gives_back_once(stranded, admin_client):
    _, level = stranded
    units, since = _shown(level)

    _confirm(admin_client, level, units, since)
    _sold(2)  # a sale between the two clicks
    _confirm(admin_client, level, units, since)

    level.refresh_from_db()
    assert (level.on_hand, level.sold_unseen) == (10, 2)
    assert LogEntry.objects.filter(object_id=str(level.pk)).count() == 1


def test_a_confirmation_with_unreadable_figures_gives_back_nothing(
    stranded, admin_client
):
    _, level = stranded

    done = _confirm(admin_client, level, -5, "not a time")

    level.refresh_from_db()
    assert (level.on_hand, level.sold_unseen) == (9, 3)
    assert done.status_code == 200


def test_a_level_stored_without_its_last_sale_time_can_be_given_back(
    stranded, admin_client
):
    # Units held with no time of the last sale (shown "since ?"): the page
    # carries none, and the confirmation matches it.
    _, level = stranded
    StockLevel.objects.filter(pk=level.pk).update(sold_unseen_at=None)

    page = _ask(admin_client, level)
    assert f'name="since_{level.pk}" value=""' in page.content.decode()
    _confirm(admin_client, level, 3, "")

    level.refresh_from_db()
    assert (level.on_hand, level.sold_unseen) == (12, 0)
