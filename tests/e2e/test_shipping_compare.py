"""Staff compare carrier rates for a parcel, see two sandbox carriers sorted
by price and a failing one with its reason, buy a label and land on the
shipment with its tracking number and label."""

import time

import pytest
from django.http import StreamingHttpResponse

from shipping.admin.shipments import ShipmentAdmin
from shipping.models import Shipment
from tests.factories import ProviderAccountFactory
from tests.integrations.fanout.conftest import threads_db  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
ADDRESSES = {
    "to_name": "Ada Buyer",
    "to_street": "742 Evergreen Terrace",
    "to_city": "Springfield",
    "to_postal_code": "62704",
    "to_state_code": "IL",
}


@pytest.fixture(autouse=True)
def _no_subscribers(settings) -> None:
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {}


@pytest.fixture
def timeline_arrives_late(monkeypatch) -> None:
    """The shipment's page arrives in two parts, the second (from its
    timeline on) a moment later, as on a loaded machine: the success message
    is shown before the timeline rows exist."""
    change_view = ShipmentAdmin.change_view

    def in_two_parts(self, request, object_id, form_url="", extra_context=None):
        response = change_view(self, request, object_id, form_url, extra_context)
        if not hasattr(response, "render"):
            return response
        body = response.render().content
        cut = body.find(b'id="shipment-timeline"')
        if cut < 0:
            return response

        def parts():
            yield body[:cut]
            time.sleep(0.5)
            yield body[cut:]

        return StreamingHttpResponse(parts(), content_type=response["Content-Type"])

    monkeypatch.setattr(ShipmentAdmin, "change_view", in_two_parts)


def _carriers() -> None:
    for slug, name, settings in (
        ("sandbox-post", "Sandbox Post", {"price_factor": 0.8}),
        ("sandbox-express", "Sandbox Express", {"price_factor": 1.6}),
        ("sandbox-down", "Sandbox Down", {"outage": True}),
    ):
        ProviderAccountFactory(
            kind="shipping", slug=slug, display_name=name, settings=settings
        )


def test_staff_compare_rates_and_buy_a_label(
    admin_login, live_server, timeline_arrives_late
):
    _carriers()
    page = admin_login()
    page.goto(f"{live_server.url}/admin/shipping/shipment/")
    # Each page is read once it has loaded: a click only starts the navigation.
    with page.expect_navigation():
        page.click("#compare-rates-link")
    for name, value in ADDRESSES.items():
        page.fill(f"#id_{name}", value)
    page.fill("#id_weight", "1.5")
    with page.expect_navigation():
        page.click("#compare-submit")

    rows = page.locator("#rates-table tr.rate-row")
    rows.first.wait_for()
    amounts = [int(a) for a in rows.evaluate_all("rs => rs.map(r => r.dataset.amount)")]
    accounts = set(rows.evaluate_all("rs => rs.map(r => r.dataset.account)"))
    assert amounts == sorted(amounts) and len(amounts) == 6
    assert accounts == {"sandbox-post", "sandbox-express"}
    failure = page.locator("#failures-table tr.failure-row")
    assert failure.count() == 1
    assert "Sandbox Down" in failure.inner_text()
    assert "connection_refused" in failure.inner_text()

    with page.expect_navigation():
        rows.first.locator("button.buy-button").click()
    assert page.locator(".messagelist .success").count() == 1
    shipment = Shipment.objects.get()
    assert shipment.amount == amounts[0]
    assert page.locator(".field-tracking_number .readonly").inner_text() == (
        shipment.tracking_number
    )
    assert page.locator("#shipment-timeline tr.timeline-attempt").count() == 1
    link = page.locator("#label-download")
    assert link.inner_text() == "Download PDF"
    label = page.request.get(live_server.url + link.get_attribute("href"))
    assert label.body().startswith(b"%PDF")
