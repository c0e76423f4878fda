"""inv38 (guard, held when checked): the generic HTTP stock service answering
a level of 2^31, 2^63 or beyond, a string, null, a boolean or a fraction
through sync_inventory: that level is refused alone and named for staff in
the run (a stored, clear failure), the rest of the batch is synced, nothing
crashes; a negative level is the ERP's backlog and kept as sent."""

import contextlib
import io

import pytest
import responses
from django.core.management import CommandError, call_command

from inventory.models import StockLevel, SyncRun
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.factories import LocationFactory, StockLevelFactory

pytestmark = pytest.mark.django_db


def _sync(slug: str, rows: list[dict]) -> None:
    with responses.RequestsMock() as rsps:
        rsps.get(hs.LEVELS, json={"levels": rows})
        # A run with refused levels may end failed (exit 1): it is stored.
        with contextlib.suppress(CommandError):
            call_command("sync_inventory", "--account", slug, stdout=io.StringIO())


@pytest.mark.parametrize(
    "odd", [2**31, 2**63, -(2**63) - 1, 10**40, "7", "x\u0000", None, True, 1.5]
)
def test_an_odd_level_is_refused_alone_and_named_in_the_run(odd):
    account = hs.make_account()
    main = LocationFactory(code="MAIN")
    StockLevelFactory(sku="A", location=main, on_hand=1)
    StockLevelFactory(sku="ODD", location=main, on_hand=1)

    _sync(
        account.slug,
        [
            {"sku": "A", "location": "MAIN", "on_hand": 9},
            {"sku": "ODD", "location": "MAIN", "on_hand": odd},
        ],
    )

    levels = dict(StockLevel.objects.values_list("sku", "on_hand"))
    run = SyncRun.objects.get()
    assert levels == {"A": 9, "ODD": 1}, run.errors
    refused = [e for e in run.errors if e.get("sku") == "ODD"]
    assert len(refused) == 1 and "on_hand" in refused[0]["message"], run.errors


def test_a_negative_level_is_kept_as_the_erp_sent_it():
    account = hs.make_account()
    StockLevelFactory(sku="A", location=LocationFactory(code="MAIN"), on_hand=1)

    _sync(account.slug, [{"sku": "A", "location": "MAIN", "on_hand": -5}])

    assert StockLevel.objects.get(sku="A").on_hand == -5
    assert SyncRun.objects.get().errors == []
