"""The admin's pickup form and compare form (ship44).

- A USPS pickup booked from the shipment list goes to the stored sender,
  and USPS requires an email (its pickup contact). A sender stored without
  one was refused on the form, and staff had nowhere to give it: the form
  now has a contact email, starting as the sender's stored one, sent with
  the pickup; the refusal sits on that field.
- The compare form's address fields were labelled "state code", though a
  US state's name (and its ISO 3166-2 code) is taken: labelled "state",
  with help saying what it takes.
"""

from dataclasses import replace

import pytest
import responses

from integrations.models import ProviderCall
from shipping import codec
from shipping.models import Pickup
from tests.shipping.contract import harness_usps
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import (
    USPS_PICKUP_EMAIL,
    usps_bought_from_shipper,
    weekday_after_tomorrow,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
LIST = "/admin/shipping/shipment/"
COMPARE = "/admin/shipping/shipment/compare-rates/"
USPS_PICKUP = f"{harness_usps.BASE}/pickup/v3/carrier-pickup"


def _pickup_form(admin_client, shipment) -> str:
    listed = admin_client.post(
        LIST, {"action": "schedule_pickup", "_selected_action": [shipment.pk]}
    )
    return listed.url


def _submitted(admin_client, url: str, **fields: str):
    """POST the pickup form for the day after tomorrow (a weekday), USPS
    answering from its fixtures: (the page, each body sent to USPS)."""
    import json

    form = {
        "pickup_date": weekday_after_tomorrow().isoformat(),
        "ready_time": "09:00",
        "close_time": "17:00",
        "instructions": "",
        "key": "s44admin",
        **fields,
    }
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(harness_usps.TOKEN_URL, json=harness_usps.load("oauth_token.json"))
        mocked.post(USPS_PICKUP, json=harness_usps.load("pickup_response.json"))
        page = admin_client.post(url, form)
        sent = [
            json.loads(c.request.body)
            for c in mocked.calls
            if c.request.url == USPS_PICKUP
        ]
    return page, sent


def test_staff_give_a_usps_pickup_the_email_its_stored_sender_lacks(admin_client):
    shipment = usps_bought_from_shipper()  # the shipper has no email
    url = _pickup_form(admin_client, shipment)
    form = admin_client.get(url).content.decode()

    page, [sent] = _submitted(admin_client, url, email=USPS_PICKUP_EMAIL)

    assert 'name="email"' in form
    pickup = Pickup.objects.get()
    assert page.url == f"/admin/shipping/pickup/{pickup.pk}/change/"
    assert sent["pickupAddress"]["contact"] == [{"email": USPS_PICKUP_EMAIL}]
    assert codec.address_from_json(pickup.address).email == USPS_PICKUP_EMAIL
    # The label's record of its sender is what the label was bought with.
    shipment.refresh_from_db()
    assert codec.address_from_json(shipment.from_address) == shared.SHIPPER


def test_without_an_email_usps_refusal_is_on_the_email_field(admin_client):
    url = _pickup_form(admin_client, usps_bought_from_shipper())

    page, sent = _submitted(admin_client, url)

    assert page.status_code == 200
    errors = page.context["form"].errors
    assert "address.email is required by USPS" in " ".join(errors["email"])
    assert sent == []
    assert not Pickup.objects.exists()
    assert not ProviderCall.objects.exists()


def test_a_stored_senders_email_starts_the_form_and_is_sent(admin_client):
    sender = replace(shared.SHIPPER, email="ship@switchyard.example")
    shipment = usps_bought_from_shipper(from_address=codec.address_to_json(sender))
    url = _pickup_form(admin_client, shipment)
    form = admin_client.get(url).content.decode()

    page, [sent] = _submitted(admin_client, url)  # the field left out

    assert 'value="ship@switchyard.example"' in form
    assert page.status_code == 302
    assert sent["pickupAddress"]["contact"] == [{"email": "ship@switchyard.example"}]


def test_the_compare_forms_state_fields_say_what_they_take(admin_client):
    page = admin_client.get(COMPARE)
    html = page.content.decode()

    assert page.status_code == 200
    assert "state code" not in html.casefold()
    form = page.context["form"]
    for side in ("from", "to"):
        field = form.fields[f"{side}_state_code"]
        assert field.label == f"{side.title()} state"
        assert "Illinois" in field.help_text and "US-IL" in field.help_text
        assert field.help_text in html
