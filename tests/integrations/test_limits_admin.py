"""Per-account limits edited in the ProviderAccount admin: typed fields with
the default as placeholder, the one parser's rules as form errors, and the
saved values used by the client, limiter and breaker (account setting >
adapter default > Django setting)."""

import pytest
from django.urls import reverse

from integrations import registry
from integrations.breaker import BreakerConfig
from integrations.client import ClientConfig, ProviderClient, client_for
from integrations.errors import Unknown
from integrations.limits import LIMITS, InvalidNumber, parse_number
from integrations.models import ProviderAccount
from integrations.ratelimit import LimitConfig
from integrations.testing.faultserver import fault_server, respond
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "s@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def account() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="payments", provider="sandbox", settings={"latency_ms": 0}
    )


def _url(account: ProviderAccount) -> str:
    return reverse("admin:integrations_provideraccount_change", args=[account.pk])


def _post(client, account: ProviderAccount, **limits: str):
    data = {
        "kind": account.kind,
        "provider": account.provider,
        "slug": account.slug,
        "display_name": account.display_name,
        "priority": str(account.priority),
        "enabled": "on",
        "mode": account.mode,
        "setting__latency_ms": "0",
        "setting__error_rate": "0",
        **{f"limit__{key}": value for key, value in limits.items()},
    }
    return client.post(_url(account), data)


def test_the_change_page_shows_every_limit_with_its_default(staff_client, account):
    page = staff_client.get(_url(account)).content.decode()

    for key in LIMITS:
        assert f'name="limit__{key}"' in page
    assert 'placeholder="3.05"' in page  # PROVIDER_CONNECT_TIMEOUT
    assert "Rate limit and concurrency" in page


def test_saved_limits_are_stored_as_numbers_and_used(staff_client, account):
    response = _post(
        staff_client,
        account,
        read_timeout="2.5",
        max_attempts="1",
        rate_limit_per_second="20",
        max_concurrency="4",
        breaker_failure_rate="0.25",
        connect_timeout="",
    )

    assert response.status_code == 302, response.content
    account.refresh_from_db()
    assert account.settings["read_timeout"] == 2.5
    assert account.settings["max_attempts"] == 1
    assert "connect_timeout" not in account.settings
    assert ClientConfig.for_account(account).read_timeout == 2.5
    limits = LimitConfig.for_account(account)
    assert (limits.rate, limits.max_concurrency) == (20.0, 4)
    assert BreakerConfig.for_account(account).failure_rate == 0.25


def test_an_emptied_field_goes_back_to_the_default(staff_client, account, settings):
    account.settings = {**account.settings, "read_timeout": 2.5}
    account.save()

    response = _post(staff_client, account, read_timeout="")

    assert response.status_code == 302
    account.refresh_from_db()
    assert "read_timeout" not in account.settings
    assert ClientConfig.for_account(account).read_timeout == (
        settings.PROVIDER_READ_TIMEOUT
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("read_timeout", "-1", "greater than zero"),
        ("deadline_seconds", "soon", "Enter a number."),
        ("max_attempts", "2.5", "whole number"),
        ("breaker_failure_rate", "1.5", "no greater than 1"),
        ("connect_timeout", "inf", "finite"),
        ("rate_limit_max_wait_seconds", "-0.5", "zero or more"),
    ],
)
def test_bad_values_are_form_errors(staff_client, account, key, value, message):
    before = dict(account.settings)

    response = _post(staff_client, account, **{key: value})

    assert response.status_code == 200
    assert message in response.content.decode()
    account.refresh_from_db()
    assert account.settings == before


def test_zero_means_fail_fast_where_allowed(staff_client, account):
    response = _post(staff_client, account, rate_limit_max_wait_seconds="0")
    assert response.status_code == 302
    account.refresh_from_db()
    assert LimitConfig.for_account(account).max_wait == 0


def test_a_limit_saved_in_the_admin_changes_the_next_call(staff_client, account):
    with fault_server() as server:
        server.route("GET", "/x", respond(503))
        url = server.url_for("/x")
        account.settings = {**account.settings, "backoff_base_seconds": 0.001}
        account.save()
        _post(staff_client, account, max_attempts="3", backoff_base_seconds="0.001")
        with pytest.raises(Unknown):
            client_for(ProviderAccount.objects.get(pk=account.pk)).request(
                "GET", url, operation="x", idempotent=True
            )
        _post(staff_client, account, max_attempts="1", backoff_base_seconds="0.001")
        with pytest.raises(Unknown):
            client_for(ProviderAccount.objects.get(pk=account.pk)).request(
                "GET", url, operation="x", idempotent=True
            )
        assert len(server.requests_for("GET", "/x")) == 3 + 1


def test_adapter_defaults_sit_between_account_and_settings(
    staff_client, account, monkeypatch, settings
):
    adapter = registry.get_adapter_class("payments", "sandbox")
    monkeypatch.setattr(
        adapter, "default_limits", {"max_concurrency": 5, "read_timeout": 7}
    )
    settings.PROVIDER_CONNECT_TIMEOUT = 1.5

    config = ClientConfig.for_account(account)
    assert (config.read_timeout, config.connect_timeout) == (7.0, 1.5)
    assert LimitConfig.for_account(account).max_concurrency == 5
    page = staff_client.get(_url(account)).content.decode()
    assert 'placeholder="5"' in page

    account.settings = {**account.settings, "max_concurrency": 2}
    assert LimitConfig.for_account(account).max_concurrency == 2


def test_invalid_stored_values_fall_back_and_are_logged(account, caplog, settings):
    account.settings = {"max_attempts": "many", "breaker_min_calls": 0}
    assert ClientConfig.for_account(account).max_attempts == (
        settings.PROVIDER_MAX_ATTEMPTS
    )
    assert BreakerConfig.for_account(account).min_calls == settings.BREAKER_MIN_CALLS
    assert "ignoring invalid account limit" in caplog.text


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("read_timeout", " 2.5 ", 2.5),
        ("max_attempts", 3.0, 3),
        ("max_attempts", "4", 4),
        ("rate_limit_max_wait_seconds", 0, 0.0),
        ("breaker_failure_rate", 1, 1.0),
    ],
)
def test_the_parser_accepts(key, raw, expected):
    value = parse_number(raw, LIMITS[key])
    assert value == expected
    assert type(value) is LIMITS[key].kind


@pytest.mark.parametrize("raw", [True, None, "", "nan", [], "1e400"])
def test_the_parser_refuses(raw):
    with pytest.raises(InvalidNumber):
        parse_number(raw, LIMITS["read_timeout"])


def test_a_client_built_directly_reads_the_same_settings(account):
    account.settings = {"read_timeout": "4"}
    client = ProviderClient(account)
    try:
        assert client.config.read_timeout == 4.0
    finally:
        client.close()
