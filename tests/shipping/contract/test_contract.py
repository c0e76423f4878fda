"""The shipping contract: every carrier adapter, through the shared
ProviderClient, answers each scenario with the same typed result or outcome.
The kind-neutral scenarios come from tests/contract/runner.py; README.md in
this directory lists the shipping ones and what each harness arranges.
Every ``harness_<provider>.py`` next to this file takes part."""

from pathlib import Path
from types import ModuleType

import pytest
import responses

from integrations.errors import Rejected
from integrations.models import ProviderCall
from integrations.webhooks.messages import WebhookMessage
from shipping.providers.answers import GarbledLabelFile
from shipping.providers.base import (
    InvalidShippingRequest,
    LabelFormat,
    LabelRequest,
    LabelStatus,
    RateRequest,
    ShippingAdapter,
)
from shipping.providers.tracking_types import TrackingStatus, TrackRequest
from tests.contract.runner import Case, Contract, Expected, last_call_outcome

pytestmark = pytest.mark.django_db

_MAGIC = {
    LabelFormat.PDF: b"%PDF",
    LabelFormat.ZPL: b"^XA",
    LabelFormat.PNG: b"\x89PNG",
}


def _operation(adapter: ShippingAdapter, request: object) -> object:
    """An error scenario runs the operation its arranged request names."""
    if isinstance(request, TrackRequest):
        return adapter.track(request)
    if isinstance(request, LabelRequest):
        return adapter.create_label(request)
    assert isinstance(request, RateRequest), f"unexpected arrangement {request!r}"
    return adapter.rates(request)


def _rates(case: Case) -> None:
    rates = case.adapter.rates(case.arranged)
    assert rates, "the carrier quoted no service"
    for rate in rates:
        assert isinstance(rate.amount, int) and rate.amount > 0
        assert len(rate.currency) == 3 and rate.currency.isupper()
        assert rate.service_code and rate.service_name and rate.carrier
        assert rate.transit_days is None or rate.transit_days >= 0
    assert last_call_outcome(case.account) == "success"


def _label(case: Case) -> None:
    request = case.arranged
    label = case.adapter.create_label(request)
    assert label.status == LabelStatus.CREATED
    assert label.tracking_number and label.carrier_shipment_id
    assert label.label_format == request.label_format
    assert label.label_data.startswith(_MAGIC[label.label_format])
    assert label.amount is None or (label.amount > 0 and len(label.currency) == 3)
    assert last_call_outcome(case.account) == "success"


def _label_garbled_file(case: Case) -> None:
    """The carrier made the label but its file is not whole: ``Unknown``
    garbled_label_file carrying the label's ids (kept, never rebought),
    never its file."""
    with pytest.raises(GarbledLabelFile) as info:
        case.adapter.create_label(case.arranged)
    error = info.value
    assert error.code == "garbled_label_file"
    assert error.outcome == "unknown"
    assert error.label.tracking_number and error.label.carrier_shipment_id
    assert error.label.label_data == b""
    assert last_call_outcome(case.account) == "success"


def _tracking(case: Case) -> None:
    info = case.adapter.track(case.arranged)
    assert info.tracking_number == case.arranged.tracking_number
    assert len(info.events) >= 2, "the scenario tracks a parcel with several events"
    assert isinstance(info.status, TrackingStatus)
    for event in info.events:
        assert isinstance(event.status, TrackingStatus)
        assert event.occurred_at.tzinfo is not None
    times = [event.occurred_at for event in info.events]
    assert times == sorted(times), "events are oldest first"
    assert last_call_outcome(case.account) == "success"


def _token_expired_401(case: Case) -> None:
    """An expired token: one refresh, the call resent, and a quote."""
    assert case.adapter.rates(case.arranged)
    assert last_call_outcome(case.account) == "success"


def _invalid_request(case: Case) -> None:
    """Refused before any call, naming the field."""
    for param, request in case.arranged.items():
        with pytest.raises(InvalidShippingRequest) as info:
            case.adapter.rates(request)
        assert info.value.param == param
        assert param in info.value.message
    assert not ProviderCall.objects.filter(account=case.account).exists()


def _tracking_update(case: Case, messages: list[WebhookMessage]) -> None:
    info = case.adapter.parse_tracking_update(messages[0])
    assert info is not None
    assert info.tracking_number
    assert isinstance(info.status, TrackingStatus)


CONTRACT = Contract(
    kind="shipping",
    adapter_class=ShippingAdapter,
    directory=Path(__file__).parent,
    package=__package__,
    operation=_operation,
    errors={
        "validation_error_400": Expected(Rejected),
        "tracking_not_found": Expected(Rejected, "not_found"),
    },
    checks={
        "rates": _rates,
        "label": _label,
        "label_garbled_file": _label_garbled_file,
        "tracking": _tracking,
        "token_expired_401": _token_expired_401,
        "invalid_request": _invalid_request,
    },
    webhook_check=_tracking_update,
)


@pytest.mark.parametrize(("harness", "scenario", "variant"), CONTRACT.cases())
def test_contract(
    harness: ModuleType,
    scenario: str,
    variant: str | None,
    rsps: responses.RequestsMock,
) -> None:
    CONTRACT.run(harness, scenario, variant, rsps)
