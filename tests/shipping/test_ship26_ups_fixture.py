"""The UPS track fixture's ``currentStatus`` had been rewritten to its newest
activity's (``code`` F4, ``statusCode`` 011), no longer the shape UPS's
published sample has (karrio-samples/tracking_response.json @ deea10f8568b:
``code`` "20220126", ``statusCode`` "003" beside type D, "DELIVERED "). The
fixture is the sample again. Only ``type`` and the wording are read:
Tracking.yaml documents ``statusCode`` as "see API Codes for possible
values" and publishes no table, and the sample itself pairs type D with 003
(its label activity's code), so ``statusCode`` and ``code`` decide nothing."""

from datetime import timedelta

import pytest

from shipping.providers.tracking_types import TrackingStatus
from tests.shipping.providers.wire import load
from tests.shipping.test_ship24_ups_current_status import (  # noqa: F401
    LABEL,
    LABEL_AT,
    _activity,
    _answer,
    bought,
)
from tests.shipping.ups_answers import package, poll

pytestmark = pytest.mark.django_db

# package[0].currentStatus of the published sample, byte for byte.
PUBLISHED_CURRENT_STATUS = {
    "code": "20220126",
    "description": "DELIVERED ",
    "simplifiedTextDescription": "DELIVERED ",
    "statusCode": "003",
    "type": "D",
}


def test_the_fixture_current_status_is_the_published_samples():
    assert package(load("ups", "track_response.json"))["currentStatus"] == (
        PUBLISHED_CURRENT_STATUS
    )


def test_the_published_answer_reads_delivered_by_its_type(bought):  # noqa: F811
    poll(bought, load("ups", "track_response.json"))

    assert bought.tracking_status == TrackingStatus.DELIVERED
    assert list(
        bought.tracking_events.order_by("occurred_at").values_list(
            "status", "carrier_status_code"
        )
    ) == [(TrackingStatus.PRE_TRANSIT, "MP"), (TrackingStatus.DELIVERED, "F4")]


@pytest.mark.parametrize("status_code", ["011", "021", "003"])
def test_a_stated_status_code_decides_nothing(bought, status_code):  # noqa: F811
    # UPS publishes no statusCode table: an in-transit word stays in transit
    # whatever code rides with it (011 is the sample's delivery activity's).
    moved = _activity("I", "AR", "Arrived at Facility", LABEL_AT + timedelta(hours=5))
    stated = {
        "code": "20261201",
        "description": "Arrived at Facility",
        "simplifiedTextDescription": "On the Way",
        "statusCode": status_code,
        "type": "I",
    }
    poll(bought, _answer(stated, moved, LABEL))

    assert bought.tracking_status == TrackingStatus.IN_TRANSIT
    assert bought.delivered_at is None
