"""A scripted SMTP relay on 127.0.0.1 for the SMTP refusal tests: it answers
MAIL, RCPT and the end of DATA with the reply a test puts in ``replies``
(by verb), and 250 to everything else. SMTPUTF8 is offered only when asked
for, as a relay without it is the common case.

Unlike ``smtp_server.FakeSmtpServer``, which picks its behaviour by the
recipient, the reply here is any line a test writes: the refusal texts
of real relays, word for word."""

import logging
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from integrations.models import ProviderAccount
from notifications.models import EmailMessage
from notifications.services import email_message_create
from notifications.services.sending import email_message_deliver
from tests.factories import ProviderAccountFactory
from tests.notifications.providers.conftest import fast

CUSTOMER = "ada@example.com"


class ScriptedRelay(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    replies: dict[str, str]
    smtputf8: bool


class _Script(socketserver.StreamRequestHandler):
    server: ScriptedRelay

    def handle(self) -> None:
        self.say("220 scripted.relay ESMTP")
        for raw in self.rfile:
            verb = raw.decode("utf-8", "replace").strip().partition(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                utf8 = "\r\n250 SMTPUTF8" if self.server.smtputf8 else ""
                eightbit = "250-8BITMIME" if utf8 else "250 8BITMIME"
                self.say(f"250-scripted.relay\r\n{eightbit}{utf8}")
            elif verb in ("MAIL", "RCPT"):
                self.say(self.server.replies.get(verb, "250 OK"))
            elif verb == "DATA":
                self.say("354 go ahead")
                for line in self.rfile:
                    if line.rstrip(b"\r\n") == b".":
                        break
                self.say(self.server.replies.get("DATA", "250 queued"))
            elif verb == "QUIT":
                self.say("221 Bye")
                return
            else:
                self.say("250 OK")

    def say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")


@contextmanager
def scripted_relay(*, smtputf8: bool = False) -> Iterator[ScriptedRelay]:
    """A running relay with no replies scripted yet; shut down on exit."""
    server = ScriptedRelay(("127.0.0.1", 0), _Script)
    server.replies = {}
    server.smtputf8 = smtputf8
    # shutdown() waits up to one poll: the default half second was most of
    # each refusal test (as smtp_server and the fault server, 0.05).
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def relay_account(relay: ScriptedRelay, *, slug: str) -> ProviderAccount:
    """The first-priority SMTP account sending through ``relay`` in clear."""
    return ProviderAccountFactory(
        kind="email",
        provider="smtp",
        slug=slug,
        priority=1,
        credentials={},
        settings=fast(host="127.0.0.1", port=relay.server_address[1], security="none"),
    )


@pytest.fixture(name="relay")
def utf8_relay() -> Iterator[ScriptedRelay]:
    """A scripted relay that offers SMTPUTF8 (imported; the fixture by its
    name ``relay``)."""
    with scripted_relay(smtputf8=True) as server:
        yield server


def error_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def delivered(to: str = CUSTOMER) -> tuple[str, EmailMessage]:
    """An order confirmation to ``to``, delivered once: its status and row."""
    message = email_message_create(
        to=to,
        template="order_confirmation",
        context={"order_id": "1001", "amount_display": "€10.50"},
        from_email="shop@example.com",
        enqueue=False,
    )
    status = email_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    return status, message
