"""The sandbox carrier's date arithmetic never overflows past year 9999.

Ship dates are bounded at the API (tests/shipping/test_shipy_dates.py) and
again at purchase (test_ship20_quote_dates.py). The one way left was the
account's ``tracking_step_seconds``: it had no upper bound, so a step of
10**12 seconds put the next scan past 9999-12-31 and every tracking poll,
sandbox webhook and void of that account's labels raised OverflowError. The
admin now refuses such a step (a form error) and a step stored before (or
written outside the form) is read as the largest allowed."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations import registry
from integrations.models import ProviderAccount
from shipping import services
from shipping.models import ShipmentStatus
from shipping.providers import sandbox_rules
from shipping.providers.base import VoidRequest
from shipping.providers.tracking_types import TrackingStatus, TrackRequest
from tests.shipping.contract import requests
from tests.shipping.helpers import carrier
from tests.shipping.test_models import _shipment

pytestmark = pytest.mark.django_db
HUGE_STEP = 10**12  # about 31,700 years a scan


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "s@example.com", "pw")
    client.force_login(user)
    return client


def _post_add(client, step):
    data = {
        "kind": "shipping",
        "provider": "sandbox",
        "slug": "sbx-ship",
        "display_name": "Sandbox ship",
        "priority": "10",
        "enabled": "on",
        "mode": "test",
        "credential__api_key": "sbx_abc",
        "credential__webhook_secret": "whsec_1",
        "setting__latency_ms": "0",
        "setting__error_rate": "0",
        "setting__currency": "USD",
        "setting__price_factor": "1",
        "setting__tracking_step_seconds": str(step),
    }
    return client.post(reverse("admin:integrations_provideraccount_add"), data)


def test_staff_cannot_set_a_tracking_step_that_runs_past_year_9999(staff_client):
    page = _post_add(staff_client, HUGE_STEP)
    assert page.status_code == 200
    assert page.context["adminform"].form.errors["setting__tracking_step_seconds"]
    assert not ProviderAccount.objects.exists()


def test_staff_may_set_the_largest_tracking_step(staff_client):
    page = _post_add(staff_client, sandbox_rules.MAX_STEP_SECONDS)
    assert page.status_code == 302, page.content
    account = ProviderAccount.objects.get(slug="sbx-ship")
    assert account.settings["tracking_step_seconds"] == sandbox_rules.MAX_STEP_SECONDS


def _label_on(account):
    adapter = registry.get_adapter(account)
    return adapter, adapter.create_label(requests.label_request("SBX_GROUND"))


def test_a_stored_huge_step_is_read_as_the_largest_allowed():
    account = carrier("post", tracking_step_seconds=HUGE_STEP)
    adapter, label = _label_on(account)

    info = adapter.track(TrackRequest(tracking_number=label.tracking_number))

    assert [e.status for e in info.events] == [TrackingStatus.PRE_TRANSIT]
    step = timedelta(seconds=sandbox_rules.MAX_STEP_SECONDS)
    created = info.events[0].occurred_at
    assert info.estimated_delivery == (created + 4 * step).date()
    # Not picked up yet: the void goes through.
    voided = adapter.void_label(
        VoidRequest(
            carrier_shipment_id=label.carrier_shipment_id,
            tracking_number=label.tracking_number,
            idempotency_key="void-huge",
        )
    )
    assert voided.voided


def test_a_poll_of_a_label_on_such_an_account_moves_on():
    account = carrier("post", tracking_step_seconds=HUGE_STEP)
    _adapter, label = _label_on(account)
    shipment = _shipment(
        account,
        status=ShipmentStatus.PURCHASED,
        tracking_status="unknown",
        tracking_number=label.tracking_number,
        carrier_shipment_id=label.carrier_shipment_id,
        created_at=timezone.now(),
    )
    assert services.shipment_tracking_refresh(shipment=shipment) == 1
    shipment.refresh_from_db()
    assert shipment.tracking_status == "pre_transit"
