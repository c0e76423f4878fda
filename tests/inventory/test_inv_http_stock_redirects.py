"""The generic stock service's key may ride in a header of the shop's
choosing (``auth_header``). requests drops only ``Authorization`` when a
redirect leaves the host, so a redirect the service (or whoever answers at
its URL) sends is not followed: the key goes only where it was entered for,
and the redirect is an error naming where it pointed."""

import pytest
import responses

from inventory import services
from inventory.models import ReservationForward
from inventory.services import LineRequest
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.factories import LocationFactory, StockLevelFactory

pytestmark = pytest.mark.django_db

ELSEWHERE = "https://elsewhere.example/collect"
KEY = "contract-stock-key"


@pytest.fixture
def erp():
    account = hs.make_account()
    account.settings = {
        "auth_header": "X-Api-Key",
        "auth_scheme": "none",
        "max_attempts": 1,
    }
    account.save()
    StockLevelFactory(
        sku="WIDGET", location=LocationFactory(code="main"), on_hand=5, source=account
    )
    return account


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add("GET", ELSEWHERE, json={"levels": []})
        mock.add("POST", ELSEWHERE, json={"id": "hold-1"})
        yield mock


def _sent_elsewhere(rsps) -> list:
    # Before the fix these carried X-Api-Key: contract-stock-key.
    return [c for c in rsps.calls if c.request.url.startswith(ELSEWHERE)]


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_sync_redirected_elsewhere_sends_no_key_there(erp, rsps, status):
    rsps.add("GET", hs.LEVELS, status=status, headers={"Location": ELSEWHERE})
    run = services.inventory_sync(account=erp, full=True)
    assert not _sent_elsewhere(rsps)
    assert run.status != "succeeded"
    assert "redirect" in str(run.errors)
    assert KEY not in str(run.errors)


def test_a_hold_redirected_elsewhere_sends_no_key_there(
    erp, rsps, django_capture_on_commit_callbacks
):
    rsps.add(
        "POST",
        f"{hs.BASE}/reservations",
        status=307,
        headers={"Location": ELSEWHERE},
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.reservation_create(order_id="o-1", lines=[LineRequest("WIDGET", 1)])
    assert not _sent_elsewhere(rsps)
    forward = ReservationForward.objects.get()
    assert forward.status in ("failed", "dead")
    assert "redirect" in forward.last_error and KEY not in forward.last_error
