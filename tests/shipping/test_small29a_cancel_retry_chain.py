"""The past sweep gives back a re-send that never reached the carrier: it
told so by the adapter's error found on the ShippingError's ``__context__``
(implicit chaining), which any except block the error passes through
replaces. The ShippingError now says itself whether anything went out."""

from datetime import timedelta

import pytest
import responses

from integrations.breaker import breaker_mode_set
from integrations.clock import database_now
from integrations.models.accounts import BreakerMode
from shipping.models import Pickup, PickupStatus
from shipping.services import pickup_cancel_retry, pickup_cancels
from shipping.services.errors import ShippingError
from tests.shipping.helpers import pickup_day, scheduled_pickup
from tests.shipping.ups_answers import ups_account

pytestmark = pytest.mark.django_db

CANCEL_URL = "https://wwwcie.ups.com/api/shipments/v2409/pickup/02"


def _behind_open_breaker(name: str, **values) -> Pickup:
    account = ups_account(name, breaker_consecutive_failures=50)
    breaker_mode_set(account=account, mode=BreakerMode.FORCED_OPEN, actor="ops")
    return scheduled_pickup(account, "2929602E9CP", **values)


def _audited(cancel):
    # A wrapper that notes the failure and re-raises it from its own except
    # block (an audit hook, a retry helper): the error's context is replaced.
    def audited(**kwargs):
        try:
            return cancel(**kwargs)
        except ShippingError as error:
            try:
                raise RuntimeError("audit store unavailable")
            except RuntimeError:
                raise error  # noqa: B904

    return audited


def test_a_carrier_not_reached_spends_no_try_whatever_the_error_passed(monkeypatch):
    pickup = _behind_open_breaker(
        "ups-s29a",
        pickup_date=pickup_day(-3),
        cancel_requested_at=database_now() - timedelta(days=3),
    )
    monkeypatch.setattr(
        pickup_cancel_retry, "pickup_cancel", _audited(pickup_cancels.pickup_cancel)
    )

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        cancel = mocked.delete(CANCEL_URL, json={})
        assert pickup_cancels.pickup_cancels_retry() == 0

    assert cancel.call_count == 0
    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 0)


def test_the_cancel_error_says_nothing_was_sent_and_keeps_its_api_shape():
    pickup = _behind_open_breaker("ups-s29b")  # for tomorrow, not in doubt

    with pytest.raises(ShippingError) as raised:
        pickup_cancels.pickup_cancel(pickup=pickup)

    error = raised.value
    assert error.nothing_sent is True
    assert (error.code, error.status_code) == ("carrier_not_processed", 502)
