"""A poll that moved the parcel only by the carrier's stated status (no new
scan) counted as unchanged in the sweep's counts, its progress and the
refresh_tracking command's line: it changed the shipment and emitted
``shipment.tracking_updated``."""

from io import StringIO

import pytest
from django.core.management import call_command

from integrations.events import Event
from shipping import services
from shipping.providers.tracking_types import TrackingStatus
from tests.shipping.test_ship24_ups_current_status import (  # noqa: F401
    LABEL,
    _answer,
    _current,
    bought,
)
from tests.shipping.ups_answers import ups_answering

pytestmark = pytest.mark.django_db


def _first_poll(shipment) -> None:
    with ups_answering(_answer(_current("M", "Shipper created a label"), LABEL)):
        services.shipment_tracking_refresh(shipment=shipment)
    shipment.refresh_from_db()
    assert shipment.tracking_status == TrackingStatus.PRE_TRANSIT


def test_a_poll_moved_only_by_the_stated_status_counts_as_updated(bought):  # noqa: F811
    _first_poll(bought)
    seen = []
    told = Event.objects.filter(name="shipment.tracking_updated").count()

    with ups_answering(_answer(_current("I", "Arrived at Facility"), LABEL)):
        counts = services.shipments_tracking_refresh(
            shipments=[bought], progress=lambda s, outcome: seen.append(outcome)
        )

    bought.refresh_from_db()
    assert bought.tracking_status == TrackingStatus.IN_TRANSIT
    assert counts == {
        "checked": 1,
        "updated": 1,
        "failed": 0,
        "events": 0,
        "broken": 0,
    }
    assert seen == ["updated"]
    assert Event.objects.filter(name="shipment.tracking_updated").count() == told + 1


def test_a_poll_with_nothing_new_is_still_unchanged(bought):  # noqa: F811
    _first_poll(bought)
    seen = []

    with ups_answering(_answer(_current("M", "Shipper created a label"), LABEL)):
        counts = services.shipments_tracking_refresh(
            shipments=[bought], progress=lambda s, outcome: seen.append(outcome)
        )

    assert (counts["updated"], counts["events"], seen) == (0, 0, ["unchanged"])


def test_the_command_reports_the_stated_move_as_updated(bought):  # noqa: F811
    _first_poll(bought)
    out = StringIO()

    with ups_answering(_answer(_current("I", "Arrived at Facility"), LABEL)):
        call_command(
            "refresh_tracking", bought.public_id, stdout=out, stderr=StringIO()
        )

    assert out.getvalue().strip() == "1 checked, 1 updated, 0 failed, 0 new events"
