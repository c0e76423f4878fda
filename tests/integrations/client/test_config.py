"""Per-account configuration, the per-process client cache and the exception
mapping for failures a local socket cannot easily produce (DNS, TLS)."""

import socket

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NameResolutionError, ProtocolError

from integrations.client import ClientConfig, classify_exception, client_for
from integrations.errors import Outcome
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


def test_account_settings_override_the_defaults(settings):
    settings.PROVIDER_READ_TIMEOUT = 15.0
    account = ProviderAccountFactory(
        settings={"read_timeout": "2.5", "max_attempts": 5, "connect_timeout": ""}
    )

    config = ClientConfig.for_account(account)

    assert config.read_timeout == 2.5
    assert config.max_attempts == 5
    assert config.connect_timeout == settings.PROVIDER_CONNECT_TIMEOUT


@pytest.mark.parametrize("bad", ["fast", -1, 0])
def test_invalid_account_settings_fall_back_to_the_default(settings, bad):
    account = ProviderAccountFactory(settings={"deadline_seconds": bad})
    assert (
        ClientConfig.for_account(account).deadline_seconds
        == settings.PROVIDER_DEADLINE_SECONDS
    )


def test_client_for_reuses_the_client_until_settings_change():
    account = ProviderAccountFactory(settings={"read_timeout": 1})

    first = client_for(account)
    fresh_row = type(account).objects.get(pk=account.pk)
    again = client_for(fresh_row)
    fresh_row.settings = {"read_timeout": 2}
    rebuilt = client_for(fresh_row)

    assert again is first
    assert again.account is fresh_row  # the newest row, for breaker mode
    assert rebuilt is not first
    assert rebuilt.config.read_timeout == 2


def _wrapped(reason: Exception) -> requests.ConnectionError:
    return requests.ConnectionError(MaxRetryError(None, "/", reason))


@pytest.mark.parametrize(
    ("exc", "outcome", "code"),
    [
        (
            _wrapped(NameResolutionError("x.invalid", None, socket.gaierror())),
            Outcome.NOT_PROCESSED,
            "dns_failure",
        ),
        (requests.exceptions.SSLError("bad cert"), Outcome.NOT_PROCESSED, "tls_error"),
        (requests.ConnectTimeout("slow"), Outcome.NOT_PROCESSED, "connect_timeout"),
        (requests.exceptions.InvalidURL("x"), Outcome.NOT_PROCESSED, "invalid_request"),
        (requests.ReadTimeout("slow"), Outcome.UNKNOWN, "read_timeout"),
        (
            requests.ConnectionError(ProtocolError("aborted", ConnectionResetError())),
            Outcome.UNKNOWN,
            "connection_reset",
        ),
        (
            requests.exceptions.ChunkedEncodingError("cut"),
            Outcome.UNKNOWN,
            "response_interrupted",
        ),
    ],
)
def test_exception_mapping(exc, outcome, code):
    error = classify_exception(exc)
    assert (error.outcome, error.code) == (outcome, code)
