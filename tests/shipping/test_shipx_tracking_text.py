"""A carrier's tracking answer whose scan text carries a NUL (or a lone
surrogate), which PostgreSQL refuses in text: the scan is stored with that
character replaced (U+FFFD, as the webhook intake stores it), so one odd
answer neither fails the whole tracking sweep nor keeps its shipment from
being tracked, and the same scan from a webhook and a poll stays one row."""

import json

import pytest
import responses
from django.core.management import call_command

from shipping.models import ShipmentStatus
from tests.shipping.contract import harness_fedex
from tests.shipping.providers.wire import load
from tests.shipping.test_models import _shipment

pytestmark = pytest.mark.django_db


def _answer(text: str) -> dict:
    answer = load("fedex", "track_response.json")
    result = answer["output"]["completeTrackResults"][0]["trackResults"][0]
    for event in result["scanEvents"]:
        event["eventDescription"] = text
    return answer


def test_a_nul_in_a_polled_scan_is_stored_replaced_and_the_sweep_goes_on(capsys):
    account = harness_fedex.make_account()
    odd, plain = (
        _shipment(
            account,
            key=f"k{n}",
            carrier="fedex",
            status=ShipmentStatus.PURCHASED,
            tracking_status="pre_transit",
            tracking_number=f"12866704372{n}",
        )
        for n in (1, 2)
    )

    def answer(request):
        # The NUL for the odd shipment's number, whichever is asked first.
        odd_asked = odd.tracking_number in request.body.decode()
        text = "Arrived\x00 at hub" if odd_asked else "Arrived at hub"
        return 200, {}, json.dumps(_answer(text))

    with responses.RequestsMock() as mocked:
        harness_fedex._token(mocked)
        mocked.add_callback(
            "POST",
            harness_fedex.TRACK_URL,
            callback=answer,
        )
        call_command("refresh_tracking", odd.public_id, plain.public_id)

    assert "2 checked, 2 updated, 0 failed" in capsys.readouterr().out
    texts = set(odd.tracking_events.values_list("description", flat=True))
    assert "Arrived\ufffd at hub" in texts
    assert plain.tracking_events.exists()
    odd.refresh_from_db()
    assert odd.tracking_status == "delivered"
