"""SMTP relay: the message built as Django builds mail, handed to the
account's relay with the standard library, one relay session per send, as
one ProviderClient operation (breaker, limiter, call log; SMTP is not HTTP,
so the attempt is counted here).

What happened decides the outcome: anything failing before the relay has
the message (connect, TLS, login) is ``not_processed``; a 4xx reply is
temporary (``not_processed``, come back in a minute); a 5xx reply to the
recipient is ``invalid_recipient``, to the message ``rejected``, unless its
enhanced code or words say it is our setup (a blocklist, our sender, our
relaying) or a refused SMTPUTF8 (5.6.7 at RCPT, at MAIL FROM its words
too: ``unsupported_message``, failed over; ``smtp_replies``); a timeout or
a dropped connection once the message is on its way is ``unknown``. SMTP
posts no delivery events: this provider has no webhooks.

Addresses go out with their domain in the ASCII form our suppressions and
sending domains key them by (``idn_ascii``: ``ada@i❤.ws`` is
``ada@xn--i-7iq.ws``), in the envelope and in From, Sender, Reply-To and To,
so a relay without SMTPUTF8 takes them; never Django's IDNA 2003 form of a
header (``shop@straße.de`` as ``strasse.de``, another domain). A
non-ASCII local part has no ASCII form: it needs the relay's SMTPUTF8, and
without it the message is ``unsupported_message`` before anything is sent
(failed over: another provider may carry it). SMTPUTF8 is declared only to
a relay that offered it in the same session, so smtplib's own refusal of it
(``SMTPNotSupportedError`` at MAIL FROM) cannot arise.

Display names are left to Django, which encodes each once (RFC 2047); we
only hand it each mailbox with its domain in the ASCII form. From and
Sender must be one mailbox, and no address header may hold a line break:
``EmailAdapter.send`` refuses those for every provider (``sender_check``).
A message that cannot be built (a domain with no ASCII form) is refused
before any connection: a definite failure (``invalid_sender`` or
``message_invalid``), never unknown.
"""

import smtplib
import socket
import ssl
from email.errors import MessageError
from email.headerregistry import Address
from email.utils import getaddresses, make_msgid
from typing import Any

from django.core.mail import EmailMultiAlternatives

from integrations.client import CallContext, client_for
from integrations.errors import (
    ConfigurationError,
    NotProcessed,
    ProviderError,
    Rejected,
    Unknown,
)
from integrations.providers.base import ConfigField, HealthResult
from integrations.webhooks.messages import WebhookMessage
from notifications.providers.base import (
    INVALID_SENDER,
    MESSAGE_ID_HEADER,
    EmailAdapter,
    EmailEventRecord,
    OutboundEmail,
    SendResult,
    SendStatus,
    idn_address,
)
from notifications.providers.esp import refused_recipient
from notifications.providers.outcomes import UnsupportedSender, unsupported_message
from notifications.providers.smtp_replies import (
    MESSAGE_REJECTED,
    enhanced_status,
    mail_from_refusal,
    setup_refusal,
)

# A temporary SMTP refusal names no time; a minute is the usual retry step.
_TEMPORARY_RETRY_AFTER = 60.0
# Headers of ours holding addresses that Django would encode by IDNA 2003.
_ADDRESS_HEADERS = ("from", "sender", "reply-to")
MESSAGE_INVALID = "message_invalid"


class SmtpAdapter(EmailAdapter):
    code = "smtp"
    display_name = "SMTP relay"
    credential_fields = (
        ConfigField("username", "User name", required=False),
        ConfigField("password", "Password", required=False),
    )
    settings_fields = (
        ConfigField("host", "Relay host", help_text="e.g. smtp.example.com"),
        ConfigField("port", "Port", type="int", default=587, min_value=1),
        ConfigField(
            "security",
            "Security",
            type="choice",
            choices=(
                ("starttls", "STARTTLS"),
                ("tls", "TLS from the start (port 465)"),
                ("none", "None (a relay on a private network)"),
            ),
            default="starttls",
        ),
        ConfigField(
            "helo_hostname",
            "EHLO host name",
            required=False,
            default="localhost",
            help_text="The name this server gives the relay.",
        ),
    )

    def deliver(
        self,
        message: OutboundEmail,
        *,
        pacing: bool = False,
        max_wait: float | None = None,
    ) -> SendResult:
        from_header = wire_header(message.from_email, header="From")
        sender = getaddresses([from_header])[0][1]
        message_id = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
        to = wire_address(message.to)
        if not to:
            raise refused_recipient("the recipient's domain has no IDNA form")
        data = _built(message, from_header, message_id, to)

        def attempt(ctx: CallContext) -> SendResult:
            ctx.attempts += 1
            with self._session(ctx) as relay:
                options = _smtputf8_options(relay, sender=sender, to=to)
                try:
                    # As Django's SMTP backend sends (send_message cannot
                    # flatten Django's compat32 message for SMTPUTF8).
                    relay.sendmail(sender, [to], data, mail_options=options)
                except (smtplib.SMTPException, OSError) as exc:
                    raise send_error(exc, to=to) from None
            return SendResult(
                provider_message_id=message_id.strip("<>"),
                status=SendStatus.ACCEPTED,
                raw_status="250",
            )

        return self.email_call("send_email", attempt, pacing=pacing, max_wait=max_wait)

    def _session(self, ctx: CallContext | None) -> "_Relay":
        config = client_for(self.account).config
        read = config.read_timeout
        if ctx is not None:
            read = max(min(read, ctx.remaining()), 0.001)
        return _Relay(self, connect_timeout=config.connect_timeout, read_timeout=read)

    def connect(self, *, timeout: float) -> smtplib.SMTP:
        """A logged-in relay session; raises ``NotProcessed`` if none."""
        host = str(self.setting("host") or "")
        if not host:
            raise ConfigurationError(
                "SMTP setting 'host' is not set", code="missing_settings"
            )
        security = self.setting("security")
        kwargs: dict[str, Any] = {
            "local_hostname": self.setting("helo_hostname"),
            "timeout": timeout,
        }
        try:
            if security == "tls":
                kwargs["context"] = ssl.create_default_context()
                relay: smtplib.SMTP = smtplib.SMTP_SSL(
                    host, int(self.setting("port")), **kwargs
                )
            else:
                relay = smtplib.SMTP(host, int(self.setting("port")), **kwargs)
            if security == "starttls":
                relay.starttls(context=ssl.create_default_context())
            username = self.credentials.get("username")
            if username:
                relay.login(str(username), self.credential("password"))
        except (smtplib.SMTPException, OSError) as exc:
            raise connect_error(exc) from None
        return relay

    def health_check(self) -> HealthResult:
        def attempt(ctx: CallContext) -> HealthResult:
            ctx.attempts += 1
            with self._session(ctx) as relay:
                try:
                    code, _ = relay.noop()
                except (smtplib.SMTPException, OSError) as exc:
                    raise connect_error(exc) from None
            return HealthResult(ok=code == 250, detail=f"relay answered {code}")

        return self.email_call("health_check", attempt, idempotent=True)

    def parse_email_events(self, message: WebhookMessage) -> list[EmailEventRecord]:
        return []  # SMTP reports nothing after the relay took the message


class _Relay:
    """One relay session: connected under the connect timeout, then the
    socket moved to the read timeout; always closed."""

    def __init__(
        self, adapter: SmtpAdapter, *, connect_timeout: float, read_timeout: float
    ) -> None:
        self.adapter = adapter
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.relay: smtplib.SMTP | None = None

    def __enter__(self) -> smtplib.SMTP:
        self.relay = self.adapter.connect(timeout=self.connect_timeout)
        if self.relay.sock is not None:
            self.relay.sock.settimeout(self.read_timeout)
        return self.relay

    def __exit__(self, *exc: object) -> None:
        if self.relay is None:
            return
        try:
            self.relay.quit()
        except (smtplib.SMTPException, OSError):
            self.relay.close()  # the message's fate is already decided


def wire_address(address: str) -> str:
    """``address`` as it goes to the relay: its domain in the ASCII form
    (``idn_address``), its local part as given; "" when the domain has none."""
    return idn_address(address.strip())


def wire_header(value: str, *, header: str) -> str:
    """An address header's ``value`` as Django is given it: each mailbox
    with its domain as ``wire_address`` sends it, its name as given (Django
    encodes it once). An ASCII value goes as given, as Django sends it.
    Raises ``Rejected`` (``invalid_sender``) for a domain with no ASCII form
    (line breaks and extra mailboxes: ``sender_check``, before this)."""
    if value.isascii():
        return value
    mailboxes = getaddresses([value])
    return ", ".join(_wire_mailbox(name, addr, header) for name, addr in mailboxes)


def _wire_mailbox(name: str, addr: str, header: str) -> str:
    wire = wire_address(addr)
    if not wire or "@" not in wire:
        raise _invalid_sender(f"the {header} address's domain has no ASCII form")
    local, _, domain = wire.rpartition("@")
    try:
        # Quoted as the name needs; never encoded here (Django does it).
        return str(Address(display_name=name, username=local, domain=domain))
    except (ValueError, MessageError):
        raise _invalid_sender(f"the {header} address is not valid") from None


def _invalid_sender(message: str) -> Rejected:
    # Our own configuration (or the caller's From): no provider would take it.
    return Rejected(message, code=INVALID_SENDER)


def _smtputf8_options(relay: smtplib.SMTP, *, sender: str, to: str) -> list[str]:
    """MAIL FROM's options: SMTPUTF8 for a non-ASCII local part. Without the
    relay's SMTPUTF8 nothing is sent: ``unsupported_message``, failed over
    (another provider may carry it), never the recipient's fault."""
    if sender.isascii() and to.isascii():
        return []
    try:
        relay.ehlo_or_helo_if_needed()
    except (smtplib.SMTPException, OSError) as exc:
        raise connect_error(exc) from None
    if relay.has_extn("smtputf8"):
        return ["SMTPUTF8"]
    if not sender.isascii():
        # Our own sender: nothing from it goes out here (staff alerted).
        raise UnsupportedSender(
            "our sender's UTF-8 address needs SMTPUTF8, which the relay does not offer"
        )
    raise unsupported_message(
        "the message's UTF-8 addresses need SMTPUTF8, which the relay does not offer"
    )


def _built(message: OutboundEmail, from_header: str, message_id: str, to: str) -> bytes:
    """The message's bytes; what Django or the email package refuse while
    building it is a definite failure: nothing reached the relay."""
    try:
        mime = _mime(message, from_header, message_id, to)
        return mime.as_bytes(linesep="\r\n")
    except ProviderError:
        raise
    except (ValueError, MessageError) as exc:  # BadHeaderError, UnicodeError
        raise Rejected(
            f"the message could not be built: {type(exc).__name__}: {exc}"[:500],
            code=MESSAGE_INVALID,
        ) from None


def _mime(message: OutboundEmail, from_header: str, message_id: str, to: str) -> Any:
    headers = {
        **{
            name: wire_header(value, header=name)
            if name.lower() in _ADDRESS_HEADERS
            else value
            for name, value in message.headers.items()
        },
        MESSAGE_ID_HEADER: message.message_id,
        "Message-ID": message_id,
    }
    reply_to = message.reply_to
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text,
        from_email=from_header,
        to=[to],
        reply_to=[wire_header(reply_to, header="Reply-To")] if reply_to else None,
        headers=headers,
    )
    if message.html:
        email.attach_alternative(message.html, "text/html")
    return email.message()


def _timed_out(exc: BaseException) -> bool:
    # smtplib reports a timed-out read as SMTPServerDisconnected raised while
    # handling the socket's TimeoutError.
    return isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)


def connect_error(exc: BaseException) -> ProviderError:
    """Failing before the relay has the message: nothing was sent."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return NotProcessed("the relay refused the login", code="authentication_failed")
    if isinstance(exc, ConnectionRefusedError):
        return NotProcessed(
            "the relay refused the connection", code="connection_refused"
        )
    if isinstance(exc, socket.gaierror):
        return NotProcessed("the relay host name did not resolve", code="dns_failure")
    if _timed_out(exc):
        return NotProcessed("connecting to the relay timed out", code="connect_timeout")
    if isinstance(exc, ssl.SSLError):
        return NotProcessed("TLS with the relay failed", code="tls_error")
    return NotProcessed("the relay did not take the session", code="relay_unavailable")


def send_error(exc: BaseException, *, to: str = "") -> ProviderError:
    """Failing once the message is on its way: by the relay's reply code.
    ``to`` is the recipient as sent, which a reply may quote."""
    if isinstance(exc, smtplib.SMTPSenderRefused) and exc.smtp_code >= 500:
        # By its enhanced code and words: a blocklist, our sender, a policy,
        # a refused SMTPUTF8 (smtp_replies.py).
        return mail_from_refusal(exc.smtp_code, exc.smtp_error, to=to)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
        for code, reply in replies:
            setup = setup_refusal(code, reply, quoting=to, before_content=True)
            if setup is not None:
                return setup
            if code >= 500 and enhanced_status(reply) == (5, 6, 7):
                # RFC 6531 at RCPT: "not permitted for that recipient", a
                # valid address no relay on this way carries; failed over.
                return unsupported_message(
                    "the relay cannot carry this message's UTF-8 addresses "
                    "to the recipient (SMTPUTF8)",
                    provider_code=str(code),
                )
        codes = [code for code, _ in replies]
        if codes and all(400 <= code < 500 for code in codes):
            return _temporary("the relay cannot take the recipient now", codes[0])
        return refused_recipient(
            "the relay refused the recipient",
            provider_code=str(codes[0] if codes else ""),
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        if 400 <= exc.smtp_code < 500:
            return _temporary("the relay refused the message for now", exc.smtp_code)
        setup = setup_refusal(exc.smtp_code, exc.smtp_error, quoting=to)
        if setup is not None:
            return setup
        return Rejected(
            "the relay refused the message",
            code=MESSAGE_REJECTED,
            provider_code=str(exc.smtp_code),
        )
    if _timed_out(exc):
        return Unknown("the relay did not answer in time", code="read_timeout")
    # Disconnected mid-transaction: the relay may have queued it.
    return Unknown("the relay dropped the connection", code="connection_reset")


def _temporary(message: str, code: int) -> NotProcessed:
    return NotProcessed(
        message,
        code="temporary_failure",
        retry_after=_TEMPORARY_RETRY_AFTER,
        provider_code=str(code),
    )
