"""revinv26: the gone look-up by SKU follows its pages. A later page that
fails is a look-up that failed (the listing's word stands, noted
``gone_unconfirmed``), whatever it failed with: a 429 (TradeGecko's rate
limit) or a 5xx must not crash the run, and a 404 there (a page gone
between two requests, a proxy) is no word that the SKU has no live
variant: page 1 answered that it has variants. Read as "no such item" it
proved the level gone (``gone_at_erp``), and a purchase order's SKU
unknown."""

import pytest
import responses

from integrations.errors import ProviderError, Rejected
from inventory.models import SyncStatus
from inventory.providers.tradegecko import TradeGeckoAdapter
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.paged_erp import SKUS, gecko_paged_account, synced_levels
from tests.inventory.test_inv26_sku_lookup import MAX_LIMIT, ManyVariantsGecko
from tests.inventory.test_revinv20_restored_variant import _variant

pytestmark = pytest.mark.django_db


class FailingPageGecko(ManyVariantsGecko):
    """Its look-up of ``failing`` answers ``status`` from page 2 on."""

    failing, status = "", 429

    def answer(self, request):
        params = dict(request.params)
        if params.get("sku") == self.failing and params.get("page") != "1":
            self.look_ups.append(params)
            headers = {"Content-Type": "application/json"}
            return self.status, headers, '{"message": "no"}'
        return super().answer(request)


@pytest.fixture
def account(settings):
    return gecko_paged_account(settings)


@pytest.fixture
def gecko(account) -> FailingPageGecko:
    """S01 .. S25 and GONE (id 5), synced at 6 each; GONE then archived."""
    gecko = FailingPageGecko(
        [_variant(5, "GONE")]
        + [_variant(n * 10, sku) for n, sku in enumerate(SKUS, start=1)]
    )
    assert gecko.sync(account, full=True).status == SyncStatus.SUCCEEDED
    gecko.set_status("GONE", "archived")
    return gecko


def _codes(run, code: str) -> list:
    return [e for e in run.errors if e["code"] == code]


@pytest.mark.parametrize("status", [429, 404, 500])
def test_a_later_page_that_fails_leaves_the_level_unconfirmed(account, gecko, status):
    gecko.failing, gecko.status = "GONE", status
    gecko.bury("GONE", MAX_LIMIT + 10)

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.SUCCEEDED, run.errors
    assert [p["page"] for p in gecko.look_ups if p["sku"] == "GONE"] == ["1", "2"]
    # The listing's word stands (set to 0, named), but not as proven gone.
    assert synced_levels()["GONE"] == 0
    [note] = _codes(run, "gone_unconfirmed")
    assert note["message"].startswith("1 level(s)")


def test_a_later_page_404_is_no_refusal_for_a_purchase_order(account, gecko):
    gecko.failing, gecko.status = "S01", 404
    gecko.bury("S01", MAX_LIMIT + 10)  # the live one past page 1

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, tg.VARIANTS, callback=gecko.answer)
        with pytest.raises(ProviderError) as raised:
            TradeGeckoAdapter(account).variant_id("S01")

    assert raised.value.code != "unknown_sku"
    assert not isinstance(raised.value, Rejected)
