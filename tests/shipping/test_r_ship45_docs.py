"""What the API schema and the admin tell a user about phones and failures
(r-ship45): ship45 made FedEx and DHL Express require both phones on every
label and quote, and UPS Next Day Air Early the recipient's, but the
address's ``phone`` description and the compare form's help still said only
"UPS requires both phones on a shipment abroad"; and the rate shop's
example answer lacked the new ``failures[].service_code``."""

import pytest
from rest_framework.test import APIClient

from shipping.admin.forms import CompareRatesForm
from shipping.api_examples import ADDRESS_FROM, RATES_RESPONSE
from shipping.serializers import CarrierFailureSerializer

pytestmark = pytest.mark.django_db


def _phone_descriptions() -> list[str]:
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    return [
        schema["components"]["schemas"][name]["properties"]["phone"]["description"]
        for name in schema["components"]["schemas"]
        if name.endswith("Address")
        and "phone" in schema["components"]["schemas"][name].get("properties", {})
    ]


def test_the_schema_says_which_carriers_require_phones():
    descriptions = _phone_descriptions()
    assert descriptions
    for text in descriptions:
        assert "FedEx and DHL Express require both phones" in text
        assert "Next Day Air Early" in text
        assert "pickup" in text


def test_the_compare_forms_phone_help_names_every_carrier_requiring_one():
    form = CompareRatesForm()
    for name in ("from_phone", "to_phone"):
        text = str(form.fields[name].help_text)
        assert "FedEx and DHL Express" in text
        assert "UPS" in text


def test_the_rate_shops_example_failures_carry_every_field():
    fields = set(CarrierFailureSerializer().fields)
    for failure in RATES_RESPONSE["failures"]:
        assert set(failure) == fields


def test_the_compare_forms_default_sender_has_the_phone_fedex_and_dhl_need():
    # The form starts with the API example's sender (the warehouse in
    # Memphis); without its phone FedEx and DHL Express never quote there.
    form = CompareRatesForm()
    assert form.fields["from_city"].initial == ADDRESS_FROM["city"]
    assert form.fields["from_phone"].initial == ADDRESS_FROM["phone"]
