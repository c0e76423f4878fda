"""The compare page's heading over what was not quoted (ship46).

Since ship45 a carrier may quote while one of its services is left out
(UPS Next Day Air Early without the recipient's phone), listed as
"UPS ... (service 14 only)" under the heading "Carriers that did not
quote": the heading said UPS did not quote right above UPS's prices. It now
says what the table holds, carriers and single services not quoted.
"""

import pytest
import responses

from tests.shipping.contract import harness_ups
from tests.shipping.early_cases import ups_shop_answered
from tests.shipping.test_admin import COMPARE, FORM

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]


def test_a_service_left_out_is_listed_under_a_heading_that_says_so(admin_client):
    harness_ups.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        ups_shop_answered(mocked)
        page = admin_client.post(COMPARE, FORM | {"from_phone": "", "to_phone": ""})

    html = page.content.decode()
    assert page.status_code == 200
    assert 'class="rate-row"' in html  # UPS quoted its other services
    assert "(service 14 only)" in html
    assert "Carriers that did not quote" not in html
    assert "<h2>Carriers and services not quoted</h2>" in html
