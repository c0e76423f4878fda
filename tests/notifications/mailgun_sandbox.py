"""Mailgun refusing every send as it refuses a free account's sandbox
domain (fixtures/mailgun/config_refusals.json), served by a fault server:
set-up of the account-setup alert tests. Import a fixture to use it (its
name is the one the tests ask for)."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from integrations.testing.faultserver import FaultServer, fault_server, respond
from notifications.providers import base
from notifications.providers.mailgun import MailgunAdapter

FIXTURES = Path(__file__).parents[1] / "fixtures/mailgun"
SANDBOX = json.loads((FIXTURES / "config_refusals.json").read_text())[
    "free_account_sandbox"
]
DOMAIN = "mg.example.com"
SEND = f"/v3/{DOMAIN}/messages"


@pytest.fixture(name="fault")
def sandbox_refusing(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultServer]:
    """Mailgun (both regions) answering each send 403, sandbox domain."""
    with fault_server(hang_limit=3) as server:
        urls = {"us": server.url + "/", "eu": server.url + "/eu/"}
        monkeypatch.setattr(MailgunAdapter, "region_urls", urls)
        server.route("POST", SEND, respond(403, json=SANDBOX))
        yield server


@pytest.fixture(name="_fresh_process", autouse=True)
def alerts_forgotten() -> Iterator[None]:
    """A process that has alerted nothing yet, before and after the test."""
    base.setup_alerts_forget()
    yield
    base.setup_alerts_forget()
