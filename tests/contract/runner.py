"""The kind-neutral contract-test runner.

Each kind has one contract test (``tests/<kind>/contract/test_contract.py``)
that builds a ``Contract`` and parametrizes over ``Contract.cases()``. The
runner brings the scenarios every kind shares (``NEUTRAL_ERRORS`` and
``WEBHOOK_SCENARIOS``), finds the kind's ``harness_<provider>.py`` modules
next to the test, and checks what no kind may answer differently: each error
scenario raises the expected outcome and leaves a ``ProviderCall`` row with
that outcome (the adapter went through the shared client), and webhooks
verify, are refused as forged or stale, and are stored once when delivered
twice. A kind adds its own error scenarios, its own checks (a callable per
scenario name) and the operation an error scenario runs. See
docs/sandboxes-and-contracts.md.
"""

import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import responses

from integrations import registry
from integrations.errors import NotProcessed, Outcome, ProviderError, Unknown
from integrations.models import ProviderAccount, ProviderCall, WebhookEvent
from integrations.providers.base import BaseAdapter
from integrations.webhooks.messages import WebhookMessage
from integrations.webhooks.services import webhook_event_store
from integrations.webhooks.verification import WebhookVerificationError


@dataclass(frozen=True)
class Webhook:
    """A webhook request a harness arranges (kinds may subclass it)."""

    body: bytes
    headers: dict[str, str]
    url: str = "https://switchyard.test/webhooks/contract/"
    # For webhook_valid: the event type verification must return, if set.
    event_type: str = ""


@dataclass(frozen=True)
class Expected:
    """What an error scenario must raise."""

    error: type[ProviderError]
    code: str | None = None
    retry_after: bool = False


NEUTRAL_ERRORS: Mapping[str, Expected] = {
    "unauthorized_401": Expected(NotProcessed, "authentication_failed"),
    "rate_limited_429": Expected(NotProcessed, retry_after=True),
    "server_error_500": Expected(Unknown),
    "read_timeout": Expected(Unknown, "read_timeout"),
    "connection_refused": Expected(NotProcessed, "connection_refused"),
    "malformed_json": Expected(Unknown),
}
WEBHOOK_SCENARIOS = (
    "webhook_valid",
    "webhook_forged",
    "webhook_stale",
    "webhook_duplicate",
)
_REFUSALS = {
    "webhook_forged": WebhookVerificationError.FORGED,
    "webhook_stale": WebhookVerificationError.STALE,
}


@dataclass(frozen=True)
class Case:
    """One scenario, arranged: what a check receives."""

    harness: ModuleType
    scenario: str
    variant: str | None
    account: ProviderAccount
    adapter: Any
    arranged: Any


Check = Callable[[Case], None]
Operation = Callable[[Any, Any], object]
WebhookCheck = Callable[[Case, list[WebhookMessage]], None]


def health_check(adapter: BaseAdapter, arranged: object) -> object:
    """The operation of kinds whose adapters have no other one yet."""
    return adapter.health_check()


def last_call_outcome(account: ProviderAccount) -> str:
    """The outcome of the account's latest ProviderCall row; fails the test
    if there is none (the adapter bypassed the shared client)."""
    call = ProviderCall.objects.filter(account=account).order_by("-pk").first()
    assert call is not None, "the adapter did not go through ProviderClient"
    return call.outcome


@dataclass
class Contract:
    """One kind's contract: the neutral scenarios plus the kind's own.

    ``operation(adapter, arranged)`` runs an error scenario; ``errors`` adds
    error scenarios; ``checks`` maps other scenario names to their check;
    ``variants`` maps a scenario to the harness attribute listing its
    variants (one case each); ``webhook_check`` adds the kind's assertions on
    a valid webhook's messages.
    """

    kind: str
    adapter_class: type
    directory: Path
    package: str
    operation: Operation = health_check
    errors: Mapping[str, Expected] = field(default_factory=dict)
    checks: Mapping[str, Check] = field(default_factory=dict)
    variants: Mapping[str, str] = field(default_factory=dict)
    webhook_check: WebhookCheck | None = None
    # What a 5xx must be for this kind unless a harness says otherwise (email:
    # not_processed, so mail fails over).
    server_error_outcome: str = Outcome.UNKNOWN

    @property
    def error_scenarios(self) -> dict[str, Expected]:
        return {**self.errors, **NEUTRAL_ERRORS}

    def harnesses(self) -> list[ModuleType]:
        names = sorted(
            m.name
            for m in pkgutil.iter_modules([str(self.directory)])
            if m.name.startswith("harness_")
        )
        return [importlib.import_module(f"{self.package}.{name}") for name in names]

    def cases(self) -> list[Any]:
        return list(self._cases())

    def _cases(self) -> Iterator[Any]:
        plain = [s for s in self.checks if s not in self.variants]
        for harness in self.harnesses():
            for scenario in (*self.error_scenarios, *plain, *WEBHOOK_SCENARIOS):
                yield pytest.param(
                    harness, scenario, None, id=f"{harness.PROVIDER}-{scenario}"
                )
            for scenario, attribute in self.variants.items():
                for variant in getattr(harness, attribute):
                    case_id = f"{harness.PROVIDER}-{scenario}-{variant}"
                    yield pytest.param(harness, scenario, variant, id=case_id)

    def run(
        self,
        harness: ModuleType,
        scenario: str,
        variant: str | None,
        rsps: responses.RequestsMock,
    ) -> None:
        """Arrange ``scenario`` with the harness, then check it."""
        account = harness.make_account()
        assert account.provider == harness.PROVIDER
        assert account.kind == self.kind
        arranged = _arrange(harness, scenario, variant, rsps, account)
        account.refresh_from_db()
        adapter = registry.get_adapter(account)
        assert isinstance(adapter, self.adapter_class)
        case = Case(harness, scenario, variant, account, adapter, arranged)
        if scenario in WEBHOOK_SCENARIOS:
            self._check_webhook(case)
        elif scenario in self.error_scenarios:
            self._check_error(case)
        else:
            self.checks[scenario](case)

    def _check_error(self, case: Case) -> None:
        expected = self.error_scenarios[case.scenario]
        error_class = expected.error
        if case.scenario == "server_error_500":
            # A provider that documents replaying a 5xx by idempotency key.
            outcome = getattr(
                case.harness, "SERVER_ERROR_OUTCOME", self.server_error_outcome
            )
            error_class = NotProcessed if outcome == Outcome.NOT_PROCESSED else Unknown
        with pytest.raises(ProviderError) as info:
            self.operation(case.adapter, case.arranged)
        error = info.value
        assert isinstance(error, error_class), repr(error)
        if expected.code is not None:
            assert error.code == expected.code
        if expected.retry_after:
            assert error.retry_after is not None and error.retry_after > 0
        assert last_call_outcome(case.account) == str(error.outcome)

    def _check_webhook(self, case: Case) -> None:
        hook = case.arranged
        if case.scenario in _REFUSALS:
            with pytest.raises(WebhookVerificationError) as info:
                _messages(case.adapter, hook)
            assert info.value.code == _REFUSALS[case.scenario]
            return
        messages = _messages(case.adapter, hook)
        assert messages, "a verified webhook carries at least one message"
        for message in messages:
            assert message.event_type and message.dedupe_key
        if getattr(hook, "event_type", ""):
            assert messages[0].event_type == hook.event_type
        if case.scenario == "webhook_duplicate":
            _check_duplicate(case, messages)
        elif self.webhook_check is not None:
            self.webhook_check(case, messages)


def _arrange(
    harness: ModuleType,
    scenario: str,
    variant: str | None,
    rsps: responses.RequestsMock,
    account: ProviderAccount,
) -> Any:
    reason = getattr(harness, "NOT_APPLICABLE", {}).get(scenario)
    if reason:
        pytest.skip(f"not applicable to {harness.PROVIDER}: {reason}")
    arrange = getattr(harness, scenario, None)
    if arrange is None and scenario == "webhook_duplicate":
        # The same valid request delivered twice.
        arrange = harness.webhook_valid
    if arrange is None:
        pytest.fail(f"{harness.__name__} has no {scenario}() and no NOT_APPLICABLE")
    return (
        arrange(rsps, account) if variant is None else arrange(rsps, account, variant)
    )


def _messages(adapter: BaseAdapter, hook: Any) -> list[WebhookMessage]:
    return adapter.webhook_messages(body=hook.body, headers=hook.headers, url=hook.url)


def _check_duplicate(case: Case, first: list[WebhookMessage]) -> None:
    """Delivered again, the request verifies to the same dedupe keys, and the
    intake's store keeps one row per message."""
    again = _messages(case.adapter, case.arranged)
    assert [m.dedupe_key for m in again] == [m.dedupe_key for m in first]
    stored = []
    for delivery in (first, again):
        for message in delivery:
            stored.append(
                webhook_event_store(
                    account=case.account,
                    message=message,
                    body=case.arranged.body,
                    headers=case.arranged.headers,
                )
            )
    count = len(first)
    assert [created for _, created in stored] == [True] * count + [False] * count
    assert [pk for pk, _ in stored[count:]] == [pk for pk, _ in stored[:count]]
    assert WebhookEvent.objects.filter(account=case.account).count() == count


@pytest.fixture(autouse=True)
def single_attempt(settings: Any) -> None:
    # Classification is under test here, not the client's retries.
    settings.PROVIDER_MAX_ATTEMPTS = 1


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
