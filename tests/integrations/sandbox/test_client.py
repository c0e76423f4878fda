"""Every sandbox goes through its account's ProviderClient: injected faults
surface as the client's outcomes, leave call-log rows, count toward the
breaker and make failover move on, as a real provider's would."""

import uuid

import pytest

from integrations import registry, selectors
from integrations.breaker import breaker_for
from integrations.errors import NotProcessed, Unknown
from integrations.models import ProviderCall
from payments import services
from payments.models import PaymentStatus, SandboxCharge
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

KINDS = ("payments", "shipping", "inventory", "email")


def _calls(account) -> list[tuple]:
    return list(
        ProviderCall.objects.filter(account=account)
        .order_by("pk")
        .values_list("operation", "outcome", "error_code", "http_status", "attempts")
    )


@pytest.mark.parametrize("kind", KINDS)
def test_health_check_is_one_logged_call(kind):
    account = ProviderAccountFactory(kind=kind)
    assert registry.get_adapter(account).health_check().ok
    assert _calls(account) == [("health_check", "success", "", 200, 1)]


@pytest.mark.parametrize("kind", KINDS)
def test_outage_is_connection_refused_retried_and_logged(kind, settings):
    settings.PROVIDER_MAX_ATTEMPTS = 2
    settings.PROVIDER_BACKOFF_BASE_SECONDS = 0.001
    account = ProviderAccountFactory(kind=kind, settings={"outage": True})
    with pytest.raises(NotProcessed) as info:
        registry.get_adapter(account).health_check()
    assert info.value.code == "connection_refused"
    assert _calls(account) == [
        ("health_check", "not_processed", "connection_refused", None, 2)
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_key_is_a_401_never_retried(kind):
    account = ProviderAccountFactory(kind=kind, credentials={"api_key": "sk_live_x"})
    with pytest.raises(NotProcessed) as info:
        registry.get_adapter(account).health_check()
    assert (info.value.code, info.value.http_status) == ("authentication_failed", 401)
    assert _calls(account) == [
        ("health_check", "not_processed", "authentication_failed", 401, 1)
    ]


def test_injected_error_is_a_500_with_outcome_unknown(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1
    account = ProviderAccountFactory(kind="shipping", settings={"error_rate": 1.0})
    with pytest.raises(Unknown) as info:
        registry.get_adapter(account).health_check()
    assert (info.value.code, info.value.http_status) == ("server_error", 500)
    assert _calls(account) == [("health_check", "unknown", "server_error", 500, 1)]


def test_latency_past_the_read_timeout_is_a_read_timeout():
    account = ProviderAccountFactory(
        kind="inventory",
        settings={"latency_ms": 400, "read_timeout": 0.05, "max_attempts": 1},
    )
    with pytest.raises(Unknown) as info:
        registry.get_adapter(account).health_check()
    assert info.value.code == "read_timeout"
    [call] = ProviderCall.objects.filter(account=account)
    assert (call.outcome, call.error_code) == ("unknown", "read_timeout")
    # It waited the read timeout, not the whole injected latency.
    assert 50 <= call.duration_ms < 400


def test_latency_within_the_read_timeout_only_slows_the_call():
    account = ProviderAccountFactory(kind="email", settings={"latency_ms": 30})
    assert registry.get_adapter(account).health_check().ok
    [call] = ProviderCall.objects.filter(account=account)
    assert call.outcome == "success"
    assert call.duration_ms >= 30


def test_outage_opens_the_breaker_then_calls_fail_fast(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1
    account = ProviderAccountFactory(settings={"outage": True})
    adapter = registry.get_adapter(account)
    for _ in range(settings.BREAKER_CONSECUTIVE_FAILURES):
        with pytest.raises(NotProcessed):
            adapter.health_check()
    assert breaker_for(account).is_open()
    with pytest.raises(NotProcessed) as info:
        adapter.health_check()
    assert info.value.code == "breaker_open"
    outcomes = [row[2] for row in _calls(account)]
    assert outcomes == [
        "connection_refused"
    ] * settings.BREAKER_CONSECUTIVE_FAILURES + ["breaker_open"]


def test_failover_between_two_sandbox_accounts_shows_in_the_call_log(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1
    primary = ProviderAccountFactory(
        slug="sbx-a", priority=1, settings={"outage": True}
    )
    backup = ProviderAccountFactory(slug="sbx-b", priority=2)
    payment = services.payment_create(
        order_id="order-failover",
        amount=1200,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key=uuid.uuid4().hex,
    )
    assert payment.status == PaymentStatus.CAPTURED
    assert payment.account == backup
    assert _calls(primary) == [
        ("create_payment", "not_processed", "connection_refused", None, 1)
    ]
    assert _calls(backup) == [("create_payment", "success", "", 200, 1)]


def test_a_lost_answer_stays_unknown_on_every_retry(settings):
    settings.PROVIDER_BACKOFF_BASE_SECONDS = 0.001
    account = ProviderAccountFactory()
    payment = services.payment_create(
        order_id="order-timeout",
        amount=1200,
        currency="EUR",
        source_token="tok_timeout",
        capture=False,
        idempotency_key=uuid.uuid4().hex,
    )
    assert payment.status == PaymentStatus.UNKNOWN
    # Retried under one key: the charge was made once, its answer never came.
    assert SandboxCharge.objects.filter(account=account).count() == 1
    assert _calls(account) == [
        (
            "create_payment",
            "unknown",
            "read_timeout",
            None,
            settings.PROVIDER_MAX_ATTEMPTS,
        )
    ]


def test_the_dashboard_counts_sandbox_calls_and_shows_the_failure(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1
    account = ProviderAccountFactory(settings={"outage": True})
    with pytest.raises(NotProcessed):
        registry.get_adapter(account).health_check()
    [overview] = [o for o in selectors.account_overviews() if o.account == account]
    assert (overview.stats.calls, overview.stats.errors) == (1, 1)
    assert overview.last_error.text == "health_check: connection_refused"
