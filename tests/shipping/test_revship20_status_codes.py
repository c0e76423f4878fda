"""Review of ship20's carrier code tables. USPS's ``17`` ("Picked Up By
Agent") and ``43`` ("Picked Up") were made ``delivered``, which is final
(``shipment.delivered`` goes to the shop and nothing undoes it), on
third-party lists; USPS's own short texts do not say the addressee got the
item (a pickup may be the one at the origin, or a shipping partner's), and
no USPS document we could reach says so: they stay movements (in transit),
the safer non-final reading, as before ship20 (docs/shipping.md)."""

import pytest

from shipping.providers.tracking_types import TrackingStatus as S
from tests.shipping.test_ship20_status_codes import _usps_status

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("code", ["17", "43"])
def test_a_usps_pickup_scan_is_not_read_as_a_delivery(code):
    assert _usps_status(code) is S.IN_TRANSIT
