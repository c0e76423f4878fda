"""USPS Carrier Pickup's contact (ship43).

carrier-pickup.yaml 3.1.8 (karrio vendors it: modules/connectors/usps/
vendor/carrier-pickup.yaml), PickupAddress: "required: - contact", and
contact "maxItems: 2, minItems: 1 ... One or more contact methods used to
facilitate package pickup", each a NotificationMethod: an EmailNotification
or an SMSNotification whose cellNumber ("^\\d{10}$") "is for future Use".
A pickup without an email was sent with ``"contact": []``, which the spec
does not allow; the phone is no contact USPS uses yet. Now an email is
required for a USPS pickup: none is a 400 ``missing_field`` naming
``address.email`` before any call, and the email is the one contact sent.
"""

import pytest

from integrations.models import ProviderCall
from shipping.models import Pickup
from tests.shipping.helpers import USPS_PICKUP_EMAIL, usps_pickup

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]


@pytest.mark.parametrize("phone", ["", "(901) 555-0100"])
def test_a_usps_pickup_without_an_email_is_a_400_naming_it(phone):
    reply, calls = usps_pickup(
        {"email": "", "phone": phone}, f"s43-noemail-{phone[:4]}"
    )

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == ("address.email", "missing_field")
    assert "USPS" in error["message"]
    assert calls == []
    assert not ProviderCall.objects.exists()
    assert not Pickup.objects.exists()


def test_a_usps_pickup_sends_its_email_as_its_one_contact():
    reply, [body] = usps_pickup({"phone": "(901) 555-0100"}, "s43-email")

    assert reply.status_code == 201, reply.json()
    assert body["pickupAddress"]["contact"] == [{"email": USPS_PICKUP_EMAIL}]


def test_a_usps_pickup_sends_no_phone_so_an_unreadable_one_is_not_refused():
    # PickupAddress has no phone field: the phone is not sent, not checked.
    reply, [body] = usps_pickup({"phone": "1-800-FLOWERS x9"}, "s43-vanity")

    assert reply.status_code == 201, reply.json()
    assert "FLOWERS" not in str(body)
