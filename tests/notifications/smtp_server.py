"""A fake SMTP relay on 127.0.0.1 for the SMTP adapter's tests: real sockets,
RFC 5321 replies, behaviour chosen by the recipient's local part so one
server serves every scenario:

==================  ================================================
``invalid@``        550 5.1.1 at RCPT (the address does not exist)
``full@``           452 4.2.2 at RCPT (temporary: mailbox full)
``ratelimited@``    451 4.7.1 after DATA (slow down; try later)
``unavailable@``    421 4.3.2 after DATA (service not available)
``rejected@``       554 5.7.1 after DATA (content refused)
``hang@``           accepts DATA, never answers (a read timeout)
anything else       250 after DATA, the message kept in ``messages``
==================  ================================================

AUTH PLAIN succeeds only with ``username``/``password``. SMTPUTF8 is
offered only when asked for (``FakeSmtpServer(smtputf8=True)``).
"""

import base64
import socketserver
import threading
from dataclasses import dataclass, field

HOST = "127.0.0.1"
USERNAME = "relay-user"
PASSWORD = "relay-password"

_AT_RCPT = {"invalid": "550 5.1.1 No such user", "full": "452 4.2.2 Mailbox full"}
_AFTER_DATA = {
    "ratelimited": "451 4.7.1 Rate limited, try again later",
    "unavailable": "421 4.3.2 Service not available",
    "rejected": "554 5.7.1 Message content rejected",
}


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes


@dataclass
class _State:
    sender: str = ""
    recipients: list[str] = field(default_factory=list)
    authenticated: bool = False


class _Handler(socketserver.StreamRequestHandler):
    server: "_Server"

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        state = _State()
        self.reply("220 fake.relay ESMTP")
        for raw in self.rfile:
            command, _, argument = raw.decode().strip().partition(" ")
            if not self.command(command.upper(), argument, state):
                return

    def command(self, verb: str, argument: str, state: _State) -> bool:
        if verb in ("EHLO", "HELO"):
            utf8 = "250-SMTPUTF8\r\n" if self.server.smtputf8 else ""
            self.reply(f"250-fake.relay\r\n250-AUTH PLAIN\r\n{utf8}250 8BITMIME")
        elif verb == "AUTH":
            _, _, encoded = argument.partition(" ")
            given = base64.b64decode(encoded).split(b"\0")[1:]
            state.authenticated = given == [USERNAME.encode(), PASSWORD.encode()]
            self.reply("235 2.7.0 OK" if state.authenticated else "535 5.7.8 Bad")
        elif verb == "MAIL":
            state.sender, state.recipients = argument, []
            self.reply("250 OK")
        elif verb == "RCPT":
            self.rcpt(argument, state)
        elif verb == "DATA":
            return self.data(state)
        elif verb in ("NOOP", "RSET"):
            self.reply("250 OK")
        elif verb == "QUIT":
            self.reply("221 Bye")
            return False
        else:
            self.reply("502 5.5.2 Not implemented")
        return True

    def rcpt(self, argument: str, state: _State) -> None:
        address = argument.partition(":")[2].strip("<> ")
        answer = _AT_RCPT.get(address.partition("@")[0])
        if answer:
            self.reply(answer)
            return
        state.recipients.append(address)
        self.reply("250 OK")

    def data(self, state: _State) -> bool:
        self.reply("354 End with <CRLF>.<CRLF>")
        lines = []
        for raw in self.rfile:
            if raw in (b".\r\n", b".\n"):
                break
            lines.append(raw)
        case = state.recipients[0].partition("@")[0] if state.recipients else ""
        if case == "hang":
            self.server.stopping.wait(self.server.hang_limit)
            return False
        answer = _AFTER_DATA.get(case)
        if answer:
            self.reply(answer)
            return not answer.startswith("421")
        self.server.messages.append(
            Received(state.sender, list(state.recipients), b"".join(lines))
        )
        self.reply("250 2.0.0 OK queued")
        return True


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, hang_limit: float, smtputf8: bool) -> None:
        super().__init__((HOST, 0), _Handler)
        self.smtputf8 = smtputf8
        self.messages: list[Received] = []
        self.stopping = threading.Event()
        self.hang_limit = hang_limit


class FakeSmtpServer:
    """``with FakeSmtpServer() as relay: relay.port, relay.messages``."""

    def __init__(self, *, hang_limit: float = 5.0, smtputf8: bool = False) -> None:
        self._server = _Server(hang_limit, smtputf8)
        self.port: int = self._server.server_address[1]
        self.messages = self._server.messages
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )

    def start(self) -> "FakeSmtpServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeSmtpServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
