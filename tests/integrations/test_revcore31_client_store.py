"""Review of the per-account client store (task revcore31).

- Amazon SES's store was swept only by the next SES call: in a process
  where the SES account was disabled elsewhere no SES call comes, so its
  boto3 client (and keep-alive socket) stayed for the process's life.
- Guards (no defect found): a client closed while another thread is
  between picking its connection pool and taking a connection from it (a
  request in flight when staff disable the account) still sends once.
  urllib3 2's ``PoolManager.clear`` only forgets its pools (each closes its
  idle connections when collected), so a pool already picked stays usable;
  a pool closed outright would raise ClosedPoolError, classified ``unknown``
  though nothing was sent. botocore's session closes the same way.
"""

import json
import threading
from pathlib import Path

import pytest
from botocore.httpsession import URLLib3Session
from django.db import connection, transaction

from integrations.client import client_for, core, store
from integrations.client.session import ProviderTransport
from integrations.errors import Outcome, ProviderError
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
        running.route("POST", "/pay", respond(200, json={"id": "pay_1"}))
        running.route(
            "POST", "/v2/email/outbound-emails", respond(200, json=SES_API["send_ok"])
        )
        yield running


def _ping(account, server) -> None:
    client_for(account).request(
        "GET", server.url_for("/ping"), operation="ping", idempotent=True
    )


def _ses_account(server, monkeypatch):
    urls = {"test": server.url, "live": server.url}
    monkeypatch.setattr(AmazonSesAdapter, "endpoint_urls", urls)
    return ProviderAccountFactory(
        kind="email",
        provider="amazon_ses",
        credentials={
            "access_key_id": "AKIAREVCORE31KEY",
            "secret_access_key": "secret-not-logged",
        },
        settings=fast(region="eu-west-1"),
    )


def test_a_ses_client_disabled_elsewhere_closes_on_another_account_s_call(
    server, monkeypatch
):
    ses = _ses_account(server, monkeypatch)
    get_adapter(ses).send(sample_email())
    assert sockets_to(server.port) == 1
    # Another process disables it: this one sends no more SES mail.
    ProviderAccount.objects.filter(pk=ses.pk).update(enabled=False)
    busy = ProviderAccountFactory(settings={})

    later = store.clock() + store.IDLE_SECONDS + store.SWEEP_SECONDS + 1
    monkeypatch.setattr(store, "clock", lambda: later)
    client_for(busy)  # the next call of any account looks for idle clients

    assert sockets_to(server.port) == 0


def _pause_once(monkeypatch, cls, name: str, thread_name: str):
    """Stop ``thread_name`` in ``cls.name`` (after it ran) once: between
    picking a pool and taking a connection from it."""
    reached, resume = threading.Event(), threading.Event()
    original = getattr(cls, name)

    def paused(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        if threading.current_thread().name == thread_name and not reached.is_set():
            reached.set()
            resume.wait(10)
        return result

    monkeypatch.setattr(cls, name, paused)
    return reached, resume


def _in_thread(name: str, work) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except ProviderError as error:
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread, outcome


def test_a_request_caught_by_the_disable_before_sending_is_sent_on_a_new_pool(
    server, monkeypatch
):
    account = ProviderAccountFactory(settings=fast())
    _ping(account, server)
    reached, resume = _pause_once(
        monkeypatch, ProviderTransport, "cert_verify", "revcore31-pay"
    )

    def pay():
        return client_for(account).request(
            "POST", server.url_for("/pay"), operation="pay", idempotent=False
        )

    thread, outcome = _in_thread("revcore31-pay", pay)
    assert reached.wait(10)
    account.enabled = False
    account.save()  # staff disable it: its client is closed on commit
    resume.set()
    thread.join(10)

    assert outcome.get("error") is None, outcome["error"]
    assert outcome["result"].status_code == 200
    assert len(server.requests_for("POST", "/pay")) == 1


def test_a_ses_send_caught_by_the_disable_before_sending_is_not_unknown(
    server, monkeypatch
):
    ses = _ses_account(server, monkeypatch)
    get_adapter(ses).send(sample_email())
    server.clear_requests()
    reached, resume = _pause_once(
        monkeypatch, URLLib3Session, "_setup_ssl_cert", "revcore31-ses"
    )

    thread, outcome = _in_thread(
        "revcore31-ses", lambda: get_adapter(ses).send(sample_email())
    )
    assert reached.wait(10)
    ses.enabled = False
    ses.save()
    resume.set()
    thread.join(10)

    error = outcome.get("error")
    assert error is None or error.outcome is not Outcome.UNKNOWN, error
    sent = server.requests_for("POST", "/v2/email/outbound-emails")
    assert len(sent) == (0 if error else 1)


def test_a_disable_rolled_back_keeps_the_client(server):
    account = ProviderAccountFactory(settings={})
    _ping(account, server)

    with pytest.raises(RuntimeError), transaction.atomic():
        account.enabled = False
        account.save()
        raise RuntimeError("the admin's save failed after the row was written")

    assert sockets_to(server.port) == 1


def test_a_delete_in_a_savepoint_rolled_back_keeps_the_client(server):
    account = ProviderAccountFactory(settings={})
    kept = client_for(account)
    _ping(account, server)

    with transaction.atomic():
        try:
            with transaction.atomic():
                account.delete()
                raise RuntimeError("cascade refused")
        except RuntimeError:
            pass
    assert client_for(ProviderAccount.objects.get(slug=account.slug)) is kept
    assert sockets_to(server.port) == 1


def test_a_call_longer_than_the_idle_time_finishes_and_leaves_no_socket(
    server, monkeypatch
):
    # Idle runs from a call's start: a sweep may close a client mid-call.
    account = ProviderAccountFactory(settings=fast())
    other = ProviderAccountFactory(settings={})
    _ping(account, server)
    reached, resume = _pause_once(
        monkeypatch, ProviderTransport, "cert_verify", "revcore31-long"
    )

    def pay():
        return client_for(account).request(
            "POST", server.url_for("/pay"), operation="pay", idempotent=False
        )

    thread, outcome = _in_thread("revcore31-long", pay)
    assert reached.wait(10)
    later = store.clock() + store.IDLE_SECONDS + store.SWEEP_SECONDS + 1
    monkeypatch.setattr(store, "clock", lambda: later)
    client_for(other)  # the sweep closes the paying thread's client
    assert account.pk not in core._clients
    resume.set()
    thread.join(10)

    assert outcome.get("error") is None, outcome["error"]
    assert outcome["result"].status_code == 200
    del outcome["result"]
    assert sockets_to(server.port) == 0
