"""The email adapter contract: typed messages, results and delivery events at
the provider boundary, the operations every email adapter implements, and the
outcome rules of the kind (docs/providers/email.md).

Outcome rules for email (they differ from the core's defaults on purpose: an
email API that answers 5xx has not queued the message, so failing over is
what keeps order confirmations going out):

- 408, 429, any 5xx, connection refused / connect timeout / DNS / TLS:
  ``NotProcessed`` (fail over; a paced bulk send waits out a 429);
- read timeout or a connection reset after the request went out: ``Unknown``
  (never resent automatically: the provider may have queued it);
- invalid or refused recipient: ``Rejected`` with code ``invalid_recipient``.

Adapters run every call through ``email_call`` (or ``HttpAdapter.send`` with
``email_error_map``), which applies these rules, so the ProviderCall row, the
breaker and failover all see the email outcome.
"""

import logging
import re
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import getaddresses, parseaddr
from enum import StrEnum
from typing import Any, TypeVar

import idna
import requests

from config.checks import display_name_problem
from integrations.client import CallContext, client_for
from integrations.client.classify import classify_exception, classify_response
from integrations.errors import (
    ConfigurationError,
    NotProcessed,
    Outcome,
    ProviderError,
    Rejected,
)
from integrations.providers.base import BaseAdapter, ConfigField
from integrations.webhooks.messages import WebhookMessage

__all__ = [
    "HEADER_BREAKS",
    "INVALID_HEADER",
    "INVALID_RECIPIENT",
    "INVALID_SENDER",
    "SENDER_NOT_VERIFIED",
    "SENDING_DOMAINS_FIELD",
    "BounceType",
    "EmailAdapter",
    "EmailCategory",
    "EmailEventRecord",
    "EmailEventType",
    "OutboundEmail",
    "RecipientStopped",
    "SendResult",
    "SendStatus",
    "address_domain",
    "domain_ascii",
    "email_error_map",
    "email_exception",
    "email_outcome",
    "header_check",
    "idn_address",
    "idn_ascii",
    "recipient_refused",
    "recipient_stop",
    "sender_check",
    "sender_not_verified",
    "sending_domain_entry",
    "sending_domains_clean",
    "sending_domains_errors",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The code of a Rejected error for an address the provider refuses.
INVALID_RECIPIENT = "invalid_recipient"
# The code of a Rejected error for a sender no provider may be given.
INVALID_SENDER = "invalid_sender"
# The code of a ConfigurationError for a sender of ours the provider has not
# verified (an SES identity, a SendGrid Sender Identity, a Postmark Sender
# Signature): the account's setup, not the recipient; another account may send.
SENDER_NOT_VERIFIED = "sender_not_verified"
# The code of a Rejected error for a header (or a field a provider makes
# one of) holding a line break or NUL.
INVALID_HEADER = "invalid_header"
# A CR or LF ends a header line (what follows is a header of its own); a NUL
# ends a C string in the relay or provider that reads it.
HEADER_BREAKS = re.compile(r"[\r\n\x00]")
# Our address headers: in OutboundEmail's fields or its ``headers``.
_ADDRESS_HEADERS = {"from": "From", "sender": "Sender", "reply-to": "Reply-To"}
# Of those, the ones RFC 5322 (3.6.2) allows one mailbox in.
_ONE_MAILBOX = ("from", "sender")
# Header carrying our message's public id, for providers that echo headers.
MESSAGE_ID_HEADER = "X-Switchyard-Message-Id"
# For providers whose events name the sender: on an account shared with
# another system, an event naming no message of ours and another sender's
# domain is that system's (docs/providers/email.md, "Shared accounts").
SENDING_DOMAINS_FIELD = ConfigField(
    "sending_domains",
    "Our sending domains",
    type="text",
    required=False,
    help_text="The domains this service sends from on this account (one per "
    "line or comma-separated; a domain counts with its subdomains, *.example.com "
    "is example.com). On an account shared with another system, an event naming "
    "no message of ours and another sender domain is then ignored. Empty: the "
    "sender is not checked (Postmark still ignores another system's message "
    "streams).",
)
# A label of a host name (RFC 1123): letters, digits, inner hyphens.
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


class EmailCategory(StrEnum):
    TRANSACTIONAL = "transactional"
    MARKETING = "marketing"


@dataclass(frozen=True)
class OutboundEmail:
    """One rendered message to one recipient, as every adapter receives it."""

    to: str
    from_email: str
    subject: str
    text: str
    message_id: str  # our public id (eml_...), echoed back in events
    category: EmailCategory = EmailCategory.TRANSACTIONAL
    html: str = ""
    reply_to: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    # Sent as the provider's custom args / metadata / message tags; providers
    # echo them in events, which is how an event finds its message.
    metadata: Mapping[str, str] = field(default_factory=dict)

    def provider_metadata(self) -> dict[str, str]:
        """``metadata`` plus our message id under ``message_id``."""
        return {**self.metadata, "message_id": self.message_id}


class SendStatus(StrEnum):
    ACCEPTED = "accepted"  # the provider took it for delivery
    QUEUED = "queued"  # taken, delivery scheduled or pending


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: SendStatus = SendStatus.ACCEPTED
    raw_status: str = ""


class EmailEventType(StrEnum):
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"
    REJECTED = "rejected"  # the provider refused it after accepting the call
    # Staff stopped all mail to the address at the provider (not a bounce,
    # not the recipient's unsubscribe).
    MANUALLY_SUPPRESSED = "manually_suppressed"
    # Delivered, then filed as spam or blocked by the recipient's filter (a
    # filter's notice, not the recipient's complaint): recorded for staff; it
    # neither proves nor undoes delivery, so it moves no status.
    FILTERED = "filtered"
    # The provider lifted its own stop on the address (Postmark's
    # reactivation): what that stop put here is lifted too.
    REACTIVATED = "reactivated"


class BounceType(StrEnum):
    HARD = "hard"  # permanent: the address is suppressed
    SOFT = "soft"  # temporary: nothing suppressed


@dataclass(frozen=True)
class EmailEventRecord:
    """One provider delivery event, normalised. ``message_id`` is our public
    id when the provider echoed our metadata, else ""; the message is then
    found by ``provider_message_id``."""

    type: EmailEventType
    occurred_at: datetime
    recipient: str
    provider_message_id: str
    message_id: str = ""
    bounce_type: BounceType | None = None
    # Provider details safe to show staff: reason, SMTP code, URL clicked,
    # user agent. Never credentials.
    details: Mapping[str, Any] = field(default_factory=dict)
    # The provider suppresses the address (a drop for its list, Postmark's
    # stop on a stream): why here ("hard_bounce", "complaint", "unsubscribe",
    # "manual", "unsubscribe_all", "deactivated"); it is suppressed here
    # too, so the next message is not even tried. On a ``reactivated``
    # record: "unsubscribe" when the list lifted stops marketing mail only.
    suppressed_for: str = ""
    # The domain the provider says the message was sent from ("" when the
    # event names none): an event naming no message of ours counts only
    # when it is one of the account's ``sending_domains``.
    sender_domain: str = ""
    # The part of a shared account the event is in when it is not ours,
    # saying which (Postmark: "message stream crm-news"); "" otherwise. An
    # event naming no message of ours there is another system's, whatever
    # its sender.
    not_ours: str = ""


class EmailAdapter(BaseAdapter):
    """What every email provider implements: ``deliver`` (called by
    ``send``), ``parse_email_events`` and ``health_check``."""

    kind = "email"

    def send(
        self,
        message: OutboundEmail,
        *,
        pacing: bool = False,
        max_wait: float | None = None,
    ) -> SendResult:
        """Hand one message to the provider. ``pacing=True`` (bulk sends)
        waits for the account's rate limit and a provider 429 up to
        ``max_wait`` seconds, then raises ``Paced``. Raises ProviderError
        subclasses by the module's outcome rules; ``Rejected``
        (``invalid_sender``, ``invalid_header``) before any call for a
        sender ``sender_check`` or a header ``header_check`` refuses,
        whichever the provider."""
        sender_check(message)
        header_check(message)
        return self.deliver(message, pacing=pacing, max_wait=max_wait)

    @abstractmethod
    def deliver(
        self,
        message: OutboundEmail,
        *,
        pacing: bool,
        max_wait: float | None,
    ) -> SendResult:
        """The provider's own send, given a message ``sender_check`` passed."""

    @abstractmethod
    def parse_email_events(self, message: WebhookMessage) -> list[EmailEventRecord]:
        """The delivery events a verified webhook message carries, in order;
        [] for one that is not about delivery (a subscription confirmation)."""

    def sending_domains(self) -> frozenset[str]:
        """The domains this service sends from on the account, as configured
        (``sending_domains``, each by ``sending_domain_entry``); empty when
        not configured, and then no event is judged by its sender. Empty too
        when an entry is not a domain (saved before the form checked them):
        judging by a list we cannot read could ignore our own bounces."""
        if not any(f.name == "sending_domains" for f in self.settings_fields):
            return frozenset()
        entries = _entries(self.setting("sending_domains"))
        domains = frozenset(map(sending_domain_entry, entries))
        if "" in domains:
            logger.warning(
                "sending_domains has an entry that is not a domain; unused",
                extra={"account": self.account.slug},
            )
            return frozenset()
        return domains

    @classmethod
    def clean_setting(cls, name: str, value: Any) -> Any:
        """A setting as the account form is to store it; ValueError (shown
        on the field) when it is not valid. ``sending_domains``: domains in
        ASCII form (``sending_domains_clean``)."""
        if name == SENDING_DOMAINS_FIELD.name:
            return sending_domains_clean(value)
        return value

    def email_call(
        self,
        operation: str,
        call: Callable[[CallContext], T],
        *,
        pacing: bool = False,
        max_wait: float | None = None,
        idempotency_key: str | None = None,
        idempotent: bool = False,
    ) -> T:
        """One operation through the account's ProviderClient with the email
        outcome rules applied to whatever ``call`` raises. ``idempotent``
        stays False for a send: no email API replays one by key, so a send is
        never retried after an unknown outcome."""

        def attempt(ctx: CallContext) -> T:
            try:
                return call(ctx)
            except ProviderError as error:
                self._alert_unverified_sender(error)
                raise email_outcome(error) from None
            except Exception as exc:
                mapped = email_exception(exc)
                if mapped is None:
                    raise
                raise mapped from None

        return client_for(self.account).call(
            operation,
            attempt,
            idempotent=idempotent,
            idempotency_key=idempotency_key,
            pacing=pacing,
            max_wait=max_wait,
        )

    def _alert_unverified_sender(self, error: ProviderError) -> None:
        # Every message from that sender fails on this account until staff
        # verify it: loud, without the addresses.
        if error.code == SENDER_NOT_VERIFIED:
            logger.error(
                "%s refused our sender as not verified; verify the sender "
                "identity (or domain) for this account at the provider",
                self.display_name,
                extra={"account": self.account.slug},
            )


def sender_check(message: OutboundEmail) -> None:
    """Refuse, as ``Rejected`` (``invalid_sender``), a From, Sender or
    Reply-To (the fields or ``headers``) holding a line break or NUL, or a
    display name holding an address (``display_name_problem``), or a From or
    Sender that is not one mailbox. An API's JSON field or a form field
    carries either as it is: the line would become a header of its own (a
    Bcc), a second mailbox another sender, and a name shaped like an address
    passes for another sender, so no provider is given it."""
    values = [("from", message.from_email), ("reply-to", message.reply_to)]
    values += [(name.lower(), value) for name, value in message.headers.items()]
    for name, value in values:
        if name not in _ADDRESS_HEADERS or not value:
            continue
        header = _ADDRESS_HEADERS[name]
        if HEADER_BREAKS.search(value):
            raise _invalid_sender(f"the {header} address holds a line break or NUL")
        mailboxes = getaddresses([value])
        one = len(mailboxes) == 1 and "@" in mailboxes[0][1]
        if name in _ONE_MAILBOX and not one:
            raise _invalid_sender(f"the {header} address is not one mailbox")
        if any(display_name_problem(*mailbox) for mailbox in mailboxes):
            raise _invalid_sender(f"the {header} display name holds an address")


def header_check(message: OutboundEmail) -> None:
    """Refuse, as ``Rejected`` (``invalid_header``), a CR, LF or NUL in the
    subject, the To, a header's name or value, a tag, or a metadata key or
    value: each is a header, or a field the provider makes one of (SES's
    X-Tag, Mailgun's variables), so the line would become a header of its
    own. The error names the field, never its value."""
    fields = [("the subject", message.subject), ("the To address", message.to)]
    for name, value in message.headers.items():
        fields += [("a header name", name), (_header_label(name), value)]
    fields += [("a tag", tag) for tag in message.tags]
    for key, value in message.metadata.items():
        fields += [("a metadata key", key), (f"metadata {_label(key)}", value)]
    for where, value in fields:
        if isinstance(value, str) and HEADER_BREAKS.search(value):
            raise Rejected(f"{where} holds a line break or NUL", code=INVALID_HEADER)


def _header_label(name: str) -> str:
    return f"the {_label(name)} header" if _label(name) else "a header"


def _label(name: str) -> str:
    # A name is shown only when it is itself clean.
    return "" if HEADER_BREAKS.search(name) else name[:64]


def _invalid_sender(message: str) -> Rejected:
    # Our own configuration (or the caller's From): no provider would take it.
    return Rejected(message, code=INVALID_SENDER)


def address_domain(value: Any) -> str:
    """The domain of an address as a provider names a sender (``a@b``,
    ``"Name" <a@b>``), lower case; "" for anything else."""
    if not isinstance(value, str):
        return ""
    address = parseaddr(value)[1]
    local, at, domain = address.rpartition("@")
    return domain.strip().lower().rstrip(".") if at and local else ""


def domain_ascii(value: str) -> str:
    """``value`` as a domain in the ASCII form providers name it in: lower
    case, no trailing dot, an internationalised domain as ``xn--`` (IDNA
    2008 / UTS 46, else IDNA 2003, under which emoji domains such as
    ``i❤.ws`` were registered: ``idn_ascii``); "" when it is not a domain
    name."""
    domain = value.strip().lower().rstrip(".")
    if not domain.isascii():
        domain = idn_ascii(domain)
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or labels[-1].isdigit():
        return ""  # too long, a bare name, or an IP address
    return domain if all(_LABEL.match(label) for label in labels) else ""


def sending_domain_entry(entry: str) -> str:
    """One ``sending_domains`` entry as a domain (``domain_ascii``): a leading
    ``*.`` is dropped (a domain's subdomains count as ours anyway); "" for
    anything else that is not a domain (an address, a URL)."""
    entry = entry.strip()
    return domain_ascii(entry[2:] if entry.startswith("*.") else entry)


def sending_domains_errors(raw: object) -> list[str]:
    """The entries of a ``sending_domains`` value that are not domains, for
    the account form to refuse."""
    return [e for e in _entries(raw) if not sending_domain_entry(e)]


def sending_domains_clean(raw: object) -> str:
    """A ``sending_domains`` value as it is to be stored: each entry in its
    ASCII form (``sending_domain_entry``), one a line, without repeats.
    ValueError, naming the entries, when one is not a domain."""
    wrong = sending_domains_errors(raw)
    if wrong:
        raise ValueError(
            "Not a domain name: " + ", ".join(wrong) + ". Give domains only "
            "(example.com); their subdomains count too."
        )
    return "\n".join(dict.fromkeys(map(sending_domain_entry, _entries(raw))))


def _entries(raw: object) -> list[str]:
    return [e for e in re.split(r"[\s,;]+", str(raw or "")) if e.strip(".")]


def idn_ascii(domain: str) -> str:
    """``domain`` (a domain name or one label of it) in the ASCII form
    providers name it in, lower case: an internationalised one as ``xn--``
    by IDNA 2008 with UTS 46 mapping, else by IDNA 2003, under which emoji
    domains such as ``i❤.ws`` were registered; "" when neither encodes it.
    The one encoding of a domain here: suppressions, sending domains and
    admin search must agree on it, or one spelling never finds the other."""
    if domain.isascii():
        return domain.lower()
    try:
        return idna.encode(domain, uts46=True).decode("ascii").lower()
    except UnicodeError:  # idna.IDNAError is one
        pass
    try:
        # Python's codec is IDNA 2003; it keeps an ASCII label's case.
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return ""


def idn_address(address: str) -> str:
    """``address`` with an internationalised domain in its ASCII form
    (``idn_ascii``), everything else as given; "" when the domain has none.
    The one domain step of an address, for our keys and for the wire."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    encoded = idn_ascii(domain)
    return f"{local}@{encoded}" if encoded else ""


def email_outcome(error: ProviderError) -> ProviderError:
    """``error`` by the email rules: a 5xx answer is ``NotProcessed`` (the
    provider queued nothing); everything else keeps its outcome (a 408 is
    ``NotProcessed`` for every kind, in the client's table)."""
    status = error.http_status
    if error.outcome is Outcome.UNKNOWN and (status or 0) >= 500:
        return NotProcessed(
            error.message,
            code=error.code,
            http_status=status,
            retry_after=error.retry_after,
            provider_code=error.provider_code,
        )
    return error


def email_error_map(response: requests.Response) -> ProviderError | None:
    """An ``HttpAdapter`` error map: the client's default by status, under the
    email rules. Adapters call it last, after their own body table."""
    error = classify_response(response)
    return email_outcome(error) if error is not None else None


def email_exception(exc: BaseException) -> ProviderError | None:
    """Our error for a library exception, or None if it is not one we know.

    Libraries wrap the ``requests`` exception in their own (anymail raises a
    class that is both its error and the original type, with the original as
    ``__cause__`` and a message in place of urllib3's reason): the cause is
    classified, or a refused connection would read as an unknown outcome and
    never fail over. An exception carrying an HTTP ``response`` is classified
    by that response."""
    cause = _transport_cause(exc)
    if cause is not None:
        return email_outcome(classify_exception(cause))
    response = getattr(exc, "response", None)
    if isinstance(response, requests.Response):
        error = email_error_map(response)
        if error is not None:
            return error
    return None


def recipient_refused(message: str, *, provider_code: str = "") -> Rejected:
    """The error for an address the provider will not send to."""
    return Rejected(
        message, code=INVALID_RECIPIENT, provider_code=provider_code or None
    )


def sender_not_verified(
    message: str, *, provider_code: str = "", http_status: int | None = None
) -> ConfigurationError:
    """The error for a sender of ours the provider has not verified: not
    retried on the account, failed over, the message not failed as the
    customer's (``EmailAdapter.email_call`` alerts staff)."""
    return ConfigurationError(
        message,
        code=SENDER_NOT_VERIFIED,
        http_status=http_status,
        provider_code=provider_code or None,
    )


class RecipientStopped(Rejected):
    """``invalid_recipient`` for an address on the provider's own suppression
    list (Postmark's 406, inactive recipient): the sending service suppresses
    it here too, for ``suppressed_for`` (a suppression reason), as that
    account's stop on its list ``stream``, as a drop for the list does."""

    def __init__(
        self,
        message: str,
        *,
        suppressed_for: str,
        stream: str = "",
        provider_code: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(
            message,
            code=INVALID_RECIPIENT,
            provider_code=provider_code,
            http_status=http_status,
        )
        self.suppressed_for = suppressed_for
        self.stream = stream


def recipient_stop(error: Any) -> RecipientStopped | None:
    """The provider's stop ``error`` reports, or the failover error's cause."""
    for candidate in (error, getattr(error, "cause", None)):
        if isinstance(candidate, RecipientStopped):
            return candidate
    return None


def _transport_cause(exc: BaseException) -> requests.RequestException | None:
    # The innermost requests exception of the chain: that is the one whose
    # args hold urllib3's reason (refused, reset, timed out).
    found: requests.RequestException | None = None
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, requests.RequestException):
            found = current
        current = current.__cause__ or current.__context__
    if found is not None and getattr(found, "response", None) is not None:
        # An HTTP error response, not a transport failure.
        return None
    return found
