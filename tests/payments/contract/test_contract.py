"""The payments contract: every adapter, through the shared ProviderClient,
answers each scenario with the same typed result or outcome. Harnesses are
``harness_<provider>.py`` modules next to this file (README.md)."""

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import responses

from integrations import registry
from integrations.errors import NotProcessed, Outcome, ProviderError, Rejected, Unknown
from integrations.models import ProviderCall
from integrations.webhooks.verification import WebhookVerificationError
from payments.providers.base import (
    DECLINE_CODES,
    PaymentsAdapter,
    ProviderStatus,
    RefundStatus,
)

pytestmark = pytest.mark.django_db

ERROR_SCENARIOS: dict[str, tuple[type[ProviderError], str | None]] = {
    "bad_request_400": (Rejected, None),
    "payment_required_402": (Rejected, None),
    "idempotency_conflict": (Rejected, "idempotency_conflict"),
    "unauthorized_401": (NotProcessed, "authentication_failed"),
    "rate_limited_429": (NotProcessed, None),
    "server_error_500": (Unknown, None),
    "read_timeout": (Unknown, "read_timeout"),
    "connection_refused": (NotProcessed, "connection_refused"),
    "malformed_json": (Unknown, None),
}
OTHER_SCENARIOS = (
    "success_authorize",
    "success_capture",
    "refund_partial",
    "webhook_valid",
    "webhook_forged",
    "webhook_stale",
)


def _harnesses() -> list[ModuleType]:
    here = Path(__file__).parent
    names = sorted(
        m.name
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("harness_")
    )
    return [importlib.import_module(f"{__package__}.{name}") for name in names]


def _cases() -> Iterator[object]:
    for harness in _harnesses():
        for scenario in (*ERROR_SCENARIOS, *OTHER_SCENARIOS):
            yield pytest.param(
                harness, scenario, None, id=f"{harness.PROVIDER}-{scenario}"
            )
        for kind in harness.DECLINE_KINDS:
            yield pytest.param(
                harness, "decline", kind, id=f"{harness.PROVIDER}-decline-{kind}"
            )


@pytest.fixture(autouse=True)
def _single_attempt(settings) -> None:
    # Classification is under test here, not the client's retries.
    settings.PROVIDER_MAX_ATTEMPTS = 1


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _arrange(harness: ModuleType, scenario: str, kind: str | None, rsps, account):
    reason = getattr(harness, "NOT_APPLICABLE", {}).get(scenario)
    if reason:
        pytest.skip(f"not applicable to {harness.PROVIDER}: {reason}")
    arrange = getattr(harness, scenario)
    return arrange(rsps, account) if kind is None else arrange(rsps, account, kind)


def _last_call_outcome(account) -> str:
    call = ProviderCall.objects.filter(account=account).order_by("-pk").first()
    assert call is not None, "the adapter did not go through ProviderClient"
    return call.outcome


@pytest.mark.parametrize(("harness", "scenario", "kind"), list(_cases()))
def test_contract(harness: ModuleType, scenario: str, kind: str | None, rsps) -> None:
    account = harness.make_account()
    assert account.provider == harness.PROVIDER
    request = _arrange(harness, scenario, kind, rsps, account)
    account.refresh_from_db()
    adapter = registry.get_adapter(account)
    assert isinstance(adapter, PaymentsAdapter)
    if scenario.startswith("webhook_"):
        _check_webhook(adapter, scenario, request)
    elif scenario == "decline":
        _check_decline(adapter, request, kind, account)
    elif scenario in ERROR_SCENARIOS:
        _check_error(harness, adapter, scenario, request, account)
    else:
        _check_success(adapter, scenario, request, account)


def _check_success(adapter: PaymentsAdapter, scenario: str, request, account) -> None:
    if scenario == "success_authorize":
        result = adapter.authorize(request)
        assert result.status == ProviderStatus.AUTHORIZED
        assert result.amount_authorized == request.amount
        assert result.currency.upper() == request.currency
        assert result.provider_reference
    elif scenario == "success_capture":
        result = adapter.capture(request)
        assert result.status == ProviderStatus.CAPTURED
        assert result.amount_captured == request.amount
    else:
        refund = adapter.refund(request)
        assert refund.amount == request.amount
        assert refund.status != RefundStatus.FAILED
        assert refund.provider_reference
    assert _last_call_outcome(account) == "success"


def _check_decline(adapter: PaymentsAdapter, request, kind: str, account) -> None:
    assert kind in DECLINE_CODES
    with pytest.raises(Rejected) as info:
        adapter.authorize(request)
    assert info.value.code == kind
    assert info.value.provider_code
    assert _last_call_outcome(account) == "rejected"


def _check_error(harness, adapter, scenario: str, request, account) -> None:
    expected, code = ERROR_SCENARIOS[scenario]
    if scenario == "server_error_500":
        outcome = getattr(harness, "SERVER_ERROR_OUTCOME", "unknown")
        expected = NotProcessed if outcome == Outcome.NOT_PROCESSED else Unknown
    with pytest.raises(ProviderError) as info:
        adapter.authorize(request)
    error = info.value
    assert isinstance(error, expected), repr(error)
    if code is not None:
        assert error.code == code
    if scenario == "rate_limited_429":
        assert error.retry_after is not None and error.retry_after > 0
    assert _last_call_outcome(account) == str(error.outcome)


def _check_webhook(adapter: PaymentsAdapter, scenario: str, hook) -> None:
    if scenario == "webhook_valid":
        message = adapter.verify_webhook(
            body=hook.body, headers=hook.headers, url=hook.url
        )
        event = adapter.parse_payment_event(message)
        assert event is not None
        assert event.kind == hook.kind
        assert event.provider_reference == hook.reference
        return
    expected = {
        "webhook_forged": WebhookVerificationError.FORGED,
        "webhook_stale": WebhookVerificationError.STALE,
    }[scenario]
    with pytest.raises(WebhookVerificationError) as info:
        adapter.verify_webhook(body=hook.body, headers=hook.headers, url=hook.url)
    assert info.value.code == expected
