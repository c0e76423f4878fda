"""The email outcome rules of notifications.providers.base, on real
``requests`` failures and on a library wrapper shaped like anymail's (a class
that is both its error and the original type, raised ``from`` it)."""

import socket

import pytest
import requests
import responses

from integrations.errors import NotProcessed, Rejected, Unknown
from notifications.providers.base import (
    EmailAdapter,
    email_error_map,
    email_exception,
    email_outcome,
    sending_domain_entry,
    sending_domains_errors,
)


class LibraryError(Exception):
    """Stands for AnymailRequestsAPIError."""


def _wrapped(err: requests.RequestException) -> Exception:
    wrapper = type("LibraryRequestsError", (LibraryError, type(err)), {})
    try:
        raise wrapper("Error posting to https://api.example.test/send:") from err
    except Exception as exc:
        return exc


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_wrapped_refused_connection_is_not_processed() -> None:
    try:
        requests.post(f"http://127.0.0.1:{_free_port()}/send", timeout=2)
    except requests.ConnectionError as err:
        original = err
    wrapped = _wrapped(original)
    error = email_exception(wrapped)
    assert isinstance(error, NotProcessed)
    assert error.code == "connection_refused"


def test_wrapped_read_timeout_is_unknown() -> None:
    error = email_exception(_wrapped(requests.ReadTimeout("read timed out")))
    assert isinstance(error, Unknown)
    assert error.code == "read_timeout"


@pytest.mark.parametrize(
    ("status", "expected", "code"),
    [
        (503, NotProcessed, "server_error"),
        (500, NotProcessed, "server_error"),
        (429, NotProcessed, "too_many_requests"),
        (401, NotProcessed, "authentication_failed"),
        (400, Rejected, "bad_request"),
    ],
)
def test_http_statuses_follow_the_email_rules(
    status: int, expected: type, code: str
) -> None:
    with responses.RequestsMock() as mock:
        mock.post(
            "https://api.example.test/send",
            status=status,
            headers={"Retry-After": "7"},
            json={},
        )
        response = requests.post("https://api.example.test/send", timeout=2)
    error = email_error_map(response)
    assert isinstance(error, expected)
    assert error.code == code
    assert error.http_status == status
    # An exception carrying the response (anymail's HTTP error) reads the same.
    carried = requests.HTTPError("bad answer", response=response)
    assert type(email_exception(carried)) is expected


def test_success_response_is_no_error() -> None:
    with responses.RequestsMock() as mock:
        mock.post("https://api.example.test/send", json={"id": "1"})
        response = requests.post("https://api.example.test/send", timeout=2)
    assert email_error_map(response) is None


def test_unknown_without_status_keeps_its_outcome() -> None:
    reset = Unknown("connection dropped", code="connection_reset")
    assert email_outcome(reset) is reset


def test_unrelated_exception_is_left_alone() -> None:
    assert email_exception(ValueError("not a transport error")) is None


@pytest.mark.parametrize(
    ("entry", "domain"),
    [
        ("Example.COM.", "example.com"),
        ("*.example.com", "example.com"),  # all its subdomains: they count anyway
        ("bücher.de", "xn--bcher-kva.de"),  # IDNA 2008 (UTS 46)
        ("i❤.ws", "xn--i-7iq.ws"),  # IDNA 2003 only: registered before 2008
        ("xn--i-7iq.ws", "xn--i-7iq.ws"),
        # Not a domain: the form refuses these.
        ("shop@example.com", ""),
        ("https://example.com/", ""),
        ("example.com:25", ""),
        ("localhost", ""),
        ("192.0.2.1", ""),
        ("*.", ""),
        ("ex_ample.com", ""),
        ("-example.com", ""),
        ("a\x00b.com", ""),
        ("x" * 64 + ".com", ""),
    ],
)
def test_a_sending_domains_entry_is_read_as_a_domain(entry, domain) -> None:
    assert sending_domain_entry(entry) == domain


def test_sending_domains_errors_names_the_entries_that_are_not_domains() -> None:
    raw = "example.com, *.mail.example.com\nshop@example.com; https://x.org/a"
    assert sending_domains_errors(raw) == ["shop@example.com", "https://x.org/a"]
    assert sending_domains_errors("") == []


def test_the_form_stores_sending_domains_in_their_ascii_form() -> None:
    raw = "Example.COM, *.mail.example.com\ni❤.ws; bücher.de example.com"
    assert EmailAdapter.clean_setting("sending_domains", raw) == (
        "example.com\nmail.example.com\nxn--i-7iq.ws\nxn--bcher-kva.de"
    )
    assert EmailAdapter.clean_setting("sending_domains", "") == ""


@pytest.mark.parametrize("raw", ["shop@example.com", "example.com, https://x.org/"])
def test_the_form_refuses_sending_domains_that_are_not_domains(raw) -> None:
    with pytest.raises(ValueError, match="Not a domain name"):
        EmailAdapter.clean_setting("sending_domains", raw)
