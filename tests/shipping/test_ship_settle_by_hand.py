"""Settle by hand, what staff type: a tracking number or label id the
shipment's columns cannot hold (too long, a control character) is a form
error, never a 500 or a stored control character; and a shipment whose
carrier this deploy cannot load (an adapter path that does not import) is
settled as one it no longer has (registry.ACCOUNT_UNCALLABLE)."""

import pytest

from shipping.models import Shipment
from shipping.services.errors import InvalidState
from shipping.services.settle import shipment_settle_by_hand
from tests.shipping.test_settle_by_hand import (
    settle_url,
    settler_client,  # noqa: F401 (fixture)
    unknown_shipment,  # noqa: F401 (the ``unknown`` fixture)
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tracking_number", "1" * 65),
        ("tracking_number", "1Z\x01999"),
        ("carrier_label_id", "a" * 129),
        ("carrier_label_id", "tx\x1b[0m"),
    ],
)
def test_an_unstorable_number_or_label_id_is_refused_naming_it(
    unknown,
    field,
    value,
):
    with pytest.raises(InvalidState) as refused:
        shipment_settle_by_hand(
            shipment=unknown,
            outcome="bought",
            note="seen on the carrier's site",
            actor="ops",
            **{"tracking_number": "1Z999", field: value},
        )
    assert refused.value.param == field
    unknown.refresh_from_db()
    assert unknown.status == "unknown"


def test_a_control_character_in_the_tracking_number_is_a_form_error(
    settler_client,  # noqa: F811
    unknown,
):
    answer = settler_client.post(
        settle_url(unknown),
        {
            "outcome": "bought",
            "tracking_number": "1Z\x01999",
            "label_format": "pdf",
            "note": "On the carrier's site.",
        },
    )
    assert answer.status_code == 200
    assert set(answer.context["form"].errors) == {"tracking_number"}
    unknown.refresh_from_db()
    assert (unknown.status, unknown.tracking_number) == ("unknown", "")


def test_a_carrier_whose_adapter_does_not_load_is_settled_by_its_number(
    settings,
    unknown,
):
    from integrations import registry

    adapters = dict(settings.SWITCHYARD_ADAPTERS)
    provider = unknown.account.provider
    adapters["shipping"] = {**adapters["shipping"], provider: "nowhere.Adapter"}
    settings.SWITCHYARD_ADAPTERS = adapters
    registry.clear_cache()

    shipment_settle_by_hand(
        shipment=unknown,
        outcome="bought",
        note="the carrier's support confirmed it",
        actor="ops",
        tracking_number="794612345678",
    )

    settled = Shipment.objects.get(pk=unknown.pk)
    assert (settled.status, settled.carrier_shipment_id) == (
        "purchased",
        "794612345678",
    )
