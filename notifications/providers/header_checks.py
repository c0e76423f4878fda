"""The checks every send makes before any provider is called: our sender
headers and every header-bound field, refused as ``Rejected`` when a line
break would let the value become a header of its own."""

import re
from email.utils import getaddresses

from config.checks import display_name_problem
from integrations.errors import Rejected
from notifications.providers.email_types import OutboundEmail

__all__ = [
    "HEADER_BREAKS",
    "INVALID_HEADER",
    "INVALID_SENDER",
    "header_check",
    "sender_check",
]

# The code of a Rejected error for a sender no provider may be given.
INVALID_SENDER = "invalid_sender"
# The code of a Rejected error for a header (or a field a provider makes
# one of) holding a line break or NUL.
INVALID_HEADER = "invalid_header"
# A CR or LF ends a header line (what follows is a header of its own); a NUL
# ends a C string in the relay or provider that reads it. VT, FF, FS, GS, RS,
# NEL and the Unicode line and paragraph separators end a line too for parsers
# that split as Python's str.splitlines does (the email package among them).
HEADER_BREAKS = re.compile(r"[\r\n\x00\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# Our address headers: in OutboundEmail's fields or its ``headers``.
_ADDRESS_HEADERS = {"from": "From", "sender": "Sender", "reply-to": "Reply-To"}
# Of those, the ones RFC 5322 (3.6.2) allows one mailbox in.
_ONE_MAILBOX = ("from", "sender")


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
