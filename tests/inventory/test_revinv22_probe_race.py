"""The boundary look-up is a request of its own: TradeGecko's listing may
move between the page and it. Page 1 reads 8..4 (five a page); then 8 and
7 are deleted and 1 and 2, archived long ago, restored (the total stays
6): 4 moves to place 3 and the next page (places 4 on) misses 3. A
variant created before the look-up moves 4 back onto the place before
that page: asked alone, that place answered 4 and the run said nothing was
skipped, though 3, live all along, was never read. The look-up now reads
the place before the page and the page's first place in one answer: the
page before's last variant must be followed there by this page's first
(or one after it), which no write in between can fake."""

import pytest
import responses

from integrations.models import ProviderCall
from inventory.providers.base import LevelsQuery
from inventory.providers.tradegecko import TradeGeckoAdapter
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.paged_erp import RandomGecko, unpaced_account

pytestmark = pytest.mark.django_db


def _gecko(script) -> RandomGecko:
    return RandomGecko([3, 4, 5, 6, 7, 8], [1, 2], script, failing=())


def _read(gecko: RandomGecko) -> tuple[set[str], bool]:
    adapter = TradeGeckoAdapter(unpaced_account())
    read, shifted, cursor = set(), False, ""
    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, tg.VARIANTS, callback=gecko.answer)
        while True:
            page = adapter.levels(LevelsQuery(limit=5, cursor=cursor))
            read |= {record.sku for record in page.records}
            shifted |= page.shifted
            if not page.has_more:
                return read, shifted
            cursor = page.next_cursor


MOVED = [("delete", 0), ("delete", 0), ("restore", 0), ("restore", 0)]


def test_a_creation_between_the_page_and_its_look_up_fakes_no_boundary():
    gecko = _gecko([[], MOVED, [("create", 0)]])

    read, shifted = _read(gecko)

    assert "V3" in read or shifted


def test_the_same_moves_with_nothing_between_the_two_requests_are_caught():
    read, shifted = _read(_gecko([[], MOVED]))

    assert "V3" in read or shifted


def test_a_boundary_that_held_costs_no_partial_run():
    # 8 deleted and 1 restored after page 1 (the total stays): 4 moves to
    # place 3, just before page 2, whose first variant (3) follows it in the
    # look-up's answer.
    read, shifted = _read(_gecko([[], [("delete", 0), ("restore", 0)]]))

    assert read >= {"V3", "V4", "V5", "V6", "V7"}
    assert not shifted


def test_every_request_of_a_run_is_counted_look_ups_included():
    """Pages and look-ups alike go through the shared client: each is a
    call of its own on the account (its rate limit's token and its log)."""
    gecko = _gecko([[], MOVED, [("create", 0)]])

    _read(gecko)

    assert ProviderCall.objects.filter(operation="levels").count() == gecko.requests
    assert gecko.requests == 3  # pages 1 and 2, and page 2's look-up
