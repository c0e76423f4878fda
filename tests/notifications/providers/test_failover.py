"""Email failover over real sockets: a SendGrid primary and a Postmark
secondary, each on a local fake provider (or a refusing port). A refused
connection or a 503 at the primary sends the message once through the
secondary; a primary that accepts then times out stops the run as unknown
and the secondary is never asked."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from integrations.failover import FailoverRejected, FailoverUnknown, run_with_failover
from integrations.models import ProviderAccount
from integrations.testing.faultserver import FaultServer, fault_server, respond
from notifications.providers.postmark import PostmarkAdapter
from notifications.providers.sendgrid import SendGridAdapter
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.providers.conftest import fast

pytestmark = pytest.mark.django_db

POSTMARK_OK = json.loads(
    (Path(__file__).parents[2] / "fixtures/postmark/api.json").read_text()
)["send_ok"]
SENDGRID = "/v3/mail/send"


@pytest.fixture
def secondary_server() -> Iterator[FaultServer]:
    with fault_server(hang_limit=3) as server:
        server.route("POST", "/email", respond(200, json=POSTMARK_OK))
        yield server


@pytest.fixture
def accounts(
    secondary_server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[ProviderAccount, ProviderAccount]:
    url = secondary_server.url + "/"
    monkeypatch.setattr(PostmarkAdapter, "api_urls", {"test": url, "live": url})
    primary = ProviderAccountFactory(
        kind="email",
        provider="sendgrid",
        priority=1,
        credentials={"api_key": "SG.primary"},
        settings=fast(),
    )
    secondary = ProviderAccountFactory(
        kind="email",
        provider="postmark",
        priority=2,
        credentials={"server_token": "secondary"},
        settings=fast(),
    )
    return primary, secondary


def _point_primary(monkeypatch: pytest.MonkeyPatch, base: str) -> None:
    url = base + "/v3/"
    monkeypatch.setattr(SendGridAdapter, "api_urls", {"test": url, "live": url})


def _send_with_failover():
    message = sample_email()
    return run_with_failover(
        "email", lambda adapter: adapter.send(message), operation_name="send_email"
    )


def test_refused_primary_fails_over_once(
    accounts, secondary_server, refused_url, monkeypatch
) -> None:
    _point_primary(monkeypatch, refused_url)
    result = _send_with_failover()
    assert result.account == accounts[1]
    assert result.result.provider_message_id == POSTMARK_OK["MessageID"]
    assert [(a.outcome, a.code) for a in result.attempts] == [
        ("not_processed", "connection_refused"),
        ("succeeded", ""),
    ]
    assert len(secondary_server.requests_for("POST", "/email")) == 1


def test_primary_503_fails_over_once(
    accounts, fault, secondary_server, monkeypatch
) -> None:
    _point_primary(monkeypatch, fault.url)
    fault.route("POST", SENDGRID, respond(503))
    result = _send_with_failover()
    assert result.account == accounts[1]
    assert len(fault.requests_for("POST", SENDGRID)) == 1
    assert len(secondary_server.requests_for("POST", "/email")) == 1


def test_primary_timing_out_after_accepting_is_never_resent(
    accounts, fault, secondary_server, monkeypatch
) -> None:
    _point_primary(monkeypatch, fault.url)
    fault.route("POST", SENDGRID, respond(202, body=b"", latency=1.0))
    with pytest.raises(FailoverUnknown) as info:
        _send_with_failover()
    assert info.value.code == "read_timeout"
    assert len(fault.requests_for("POST", SENDGRID)) == 1
    assert secondary_server.requests_for("POST", "/email") == []


def test_refused_recipient_does_not_fail_over(
    accounts, fault, secondary_server, monkeypatch
) -> None:
    _point_primary(monkeypatch, fault.url)
    body = {
        "errors": [
            {
                "message": "Does not contain a valid address.",
                "field": "personalizations.0.to.0.email",
            }
        ]
    }
    fault.route("POST", SENDGRID, respond(400, json=body))
    with pytest.raises(FailoverRejected) as info:
        _send_with_failover()
    assert info.value.code == "invalid_recipient"
    assert secondary_server.requests_for("POST", "/email") == []
