"""The process keeps one client per account (``client_for``; Amazon SES
one boto3 client), each with a keep-alive connection. The store follows the
account: a deleted or disabled account's client is closed (at once in the
process that saved it; in the others once it has gone unused for
``IDLE_SECONDS``), and a rotated SES credential closes the old client
rather than leave it to the garbage collector. A changed key or timeout
reaches the next call (task core31)."""

import json
from pathlib import Path

import pytest

from integrations.client import client_for, store
from integrations.models import ProviderAccount
from integrations.registry import get_adapter
from integrations.testing.faultserver import FaultServer, respond
from notifications.providers.amazon_ses import AmazonSesAdapter
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.providers.conftest import fast
from tests.platform.tests26_sockets import HAS_PROC, sockets_to

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not HAS_PROC, reason="needs /proc"),
]
SES_API = json.loads(
    (Path(__file__).parents[1] / "fixtures/amazon_ses/api.json").read_text()
)


@pytest.fixture
def server():
    with FaultServer() as running:
        running.route("GET", "/ping", respond(200, json={"ok": True}))
        yield running


def _ping(account, server) -> None:
    client_for(account).request(
        "GET", server.url_for("/ping"), operation="ping", idempotent=True
    )


def test_a_deleted_account_s_client_is_closed(server):
    account = ProviderAccountFactory(settings={})
    _ping(account, server)
    assert sockets_to(server.port) == 1

    account.delete()

    assert sockets_to(server.port) == 0


def test_a_disabled_account_s_client_is_closed(server):
    account = ProviderAccountFactory(settings={})
    _ping(account, server)

    account.enabled = False
    account.save()

    assert sockets_to(server.port) == 0
    _ping(account, server)  # still callable (a webhook of a disabled account)
    assert sockets_to(server.port) == 1


def test_an_enabled_account_s_save_keeps_its_connection(server):
    account = ProviderAccountFactory(settings={})
    _ping(account, server)
    account.priority = 7
    account.save()
    assert sockets_to(server.port) == 1


def test_an_account_gone_in_another_process_is_dropped_once_idle(server, monkeypatch):
    gone = ProviderAccountFactory(settings={})
    busy = ProviderAccountFactory(settings={})
    _ping(gone, server)
    # Another process disables it: no signal reaches this one.
    ProviderAccount.objects.filter(pk=gone.pk).update(enabled=False)
    now = store.clock()
    monkeypatch.setattr(store, "clock", lambda: now + store.IDLE_SECONDS / 2)
    client_for(busy)
    assert sockets_to(server.port) == 1  # not idle long enough yet

    later = now + store.IDLE_SECONDS + store.SWEEP_SECONDS + 1
    monkeypatch.setattr(store, "clock", lambda: later)
    client_for(busy)

    assert sockets_to(server.port) == 0


def test_a_client_in_use_is_not_dropped(server, monkeypatch):
    account = ProviderAccountFactory(settings={})
    _ping(account, server)
    first = client_for(account)
    start = store.clock()
    for step in range(1, 4):
        at = start + step * store.IDLE_SECONDS * 0.6
        monkeypatch.setattr(store, "clock", lambda at=at: at)
        assert client_for(account) is first
    assert sockets_to(server.port) == 1


def test_a_changed_timeout_reaches_the_next_call():
    account = ProviderAccountFactory(settings={"read_timeout": 5})
    assert client_for(account).config.read_timeout == 5
    account.settings = {"read_timeout": 2}
    account.save()
    fresh = ProviderAccount.objects.get(pk=account.pk)
    assert client_for(fresh).config.read_timeout == 2


def _ses_account(server, monkeypatch, key_id: str):
    server.route(
        "POST", "/v2/email/outbound-emails", respond(200, json=SES_API["send_ok"])
    )
    urls = {"test": server.url, "live": server.url}
    monkeypatch.setattr(AmazonSesAdapter, "endpoint_urls", urls)
    return ProviderAccountFactory(
        kind="email",
        provider="amazon_ses",
        credentials={
            "access_key_id": key_id,
            "secret_access_key": "secret-not-logged",
        },
        settings=fast(region="eu-west-1"),
    )


def _signed_with(server) -> str:
    return server.requests[-1].header("Authorization") or ""


def test_a_rotated_ses_key_is_sent_and_the_old_client_closed(server, monkeypatch):
    account = _ses_account(server, monkeypatch, "AKIAOLDKEYCORE31")
    get_adapter(account).send(sample_email())
    assert "AKIAOLDKEYCORE31/" in _signed_with(server)
    assert sockets_to(server.port) == 1

    account.set_credentials(
        {"access_key_id": "AKIANEWKEYCORE31", "secret_access_key": "rotated-secret"}
    )
    account.save()
    get_adapter(ProviderAccount.objects.get(pk=account.pk)).send(sample_email())

    assert "AKIANEWKEYCORE31/" in _signed_with(server)
    assert sockets_to(server.port) == 1  # the old client's connection closed


def test_a_deleted_ses_account_s_client_is_closed(server, monkeypatch):
    account = _ses_account(server, monkeypatch, "AKIAGONEKEYCORE31")
    get_adapter(account).send(sample_email())
    assert sockets_to(server.port) == 1

    account.delete()

    assert sockets_to(server.port) == 0
