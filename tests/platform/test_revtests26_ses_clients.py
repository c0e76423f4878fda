"""Amazon SES keeps a boto3 client per account and credentials for the
process (its urllib3 pool holds a keep-alive connection); every test makes
new accounts, so like ``client_for``'s clients they must be closed after each
test, or each SES test's descriptor stays open to the session end. In order:
the first test leaves one open, the second finds it closed (task revtests26)."""

import json
from pathlib import Path

import pytest

from integrations.registry import get_adapter
from integrations.testing.faultserver import FaultServer, respond
from notifications.providers.amazon_ses import AmazonSesAdapter
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.providers.conftest import fast
from tests.platform.tests26_sockets import HAS_PROC, sockets_to

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not HAS_PROC, reason="needs /proc"),
]
API = json.loads(
    (Path(__file__).parents[1] / "fixtures/amazon_ses/api.json").read_text()
)
SEEN: dict[str, int] = {}


def test_an_ses_account_keeps_its_connection(monkeypatch):
    with FaultServer() as server:
        server.route(
            "POST", "/v2/email/outbound-emails", respond(200, json=API["send_ok"])
        )
        urls = {"test": server.url, "live": server.url}
        monkeypatch.setattr(AmazonSesAdapter, "endpoint_urls", urls)
        account = ProviderAccountFactory(
            kind="email",
            provider="amazon_ses",
            credentials={
                "access_key_id": "AKIAFAULTSERVERTEST",
                "secret_access_key": "secret-not-logged",
            },
            settings=fast(region="eu-west-1"),
        )
        get_adapter(account).send(sample_email())
        SEEN["port"] = server.port
        assert sockets_to(server.port) == 1


def test_the_next_test_finds_it_closed():
    if "port" not in SEEN:
        pytest.skip("runs after the test above")
    assert sockets_to(SEEN["port"]) == 0
