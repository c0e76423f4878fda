"""The payments contract: every adapter, through the shared ProviderClient,
answers each scenario with the same typed result or outcome. Harnesses are
``harness_<provider>.py`` modules next to this file (README.md); the
kind-neutral scenarios and checks are tests/contract/runner.py's."""

from pathlib import Path
from types import ModuleType

import pytest
import responses

from integrations.errors import Rejected
from integrations.webhooks.messages import WebhookMessage
from payments.providers.base import (
    DECLINE_CODES,
    PaymentsAdapter,
    ProviderStatus,
    RefundStatus,
)
from tests.contract.runner import Case, Contract, Expected, last_call_outcome

pytestmark = pytest.mark.django_db


def _authorize(adapter: PaymentsAdapter, request: object) -> object:
    return adapter.authorize(request)  # type: ignore[arg-type]


def _success_authorize(case: Case) -> None:
    request = case.arranged
    result = case.adapter.authorize(request)
    assert result.status == ProviderStatus.AUTHORIZED
    assert result.amount_authorized == request.amount
    assert result.currency.upper() == request.currency
    assert result.provider_reference
    assert last_call_outcome(case.account) == "success"


def _success_capture(case: Case) -> None:
    result = case.adapter.capture(case.arranged)
    assert result.status == ProviderStatus.CAPTURED
    assert result.amount_captured == case.arranged.amount
    assert last_call_outcome(case.account) == "success"


def _refund_partial(case: Case) -> None:
    refund = case.adapter.refund(case.arranged)
    assert refund.amount == case.arranged.amount
    assert refund.status != RefundStatus.FAILED
    assert refund.provider_reference
    assert last_call_outcome(case.account) == "success"


def _decline(case: Case) -> None:
    assert case.variant in DECLINE_CODES
    with pytest.raises(Rejected) as info:
        case.adapter.authorize(case.arranged)
    assert info.value.code == case.variant
    assert info.value.provider_code
    assert last_call_outcome(case.account) == "rejected"


def _payment_event(case: Case, messages: list[WebhookMessage]) -> None:
    event = case.adapter.parse_payment_event(messages[0])
    assert event is not None
    assert event.kind == case.arranged.kind
    assert event.provider_reference == case.arranged.reference


CONTRACT = Contract(
    kind="payments",
    adapter_class=PaymentsAdapter,
    directory=Path(__file__).parent,
    package=__package__,
    operation=_authorize,
    errors={
        "bad_request_400": Expected(Rejected),
        "payment_required_402": Expected(Rejected),
        "idempotency_conflict": Expected(Rejected, "idempotency_conflict"),
    },
    checks={
        "success_authorize": _success_authorize,
        "success_capture": _success_capture,
        "refund_partial": _refund_partial,
        "decline": _decline,
    },
    variants={"decline": "DECLINE_KINDS"},
    webhook_check=_payment_event,
)


@pytest.mark.parametrize(("harness", "scenario", "kind"), CONTRACT.cases())
def test_contract(
    harness: ModuleType,
    scenario: str,
    kind: str | None,
    rsps: responses.RequestsMock,
) -> None:
    CONTRACT.run(harness, scenario, kind, rsps)
