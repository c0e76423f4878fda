"""Reading a relay's permanent (5xx) reply: whose problem it is, by the
enhanced status code (RFC 3463, "5.7.1") where the relay gives one and by
the relay's own words (never what it quotes: the recipient, anything in
<...> or "...").

- an IP or domain blocklist, before the message's content was sent (MAIL
  FROM, RCPT), or at any command "from your IP": ``sending_blocked``, our
  sending server's reputation;
- our sender's authentication (SPF, DKIM, DMARC; 5.7.20-5.7.27, RFC 7372),
  our sending server's client or HELO check (Postfix answers both at RCPT,
  naming the recipient), our sender or our relaying refused:
  ``sending_not_allowed``, ``sender_not_verified``;
- at MAIL FROM, which names only our sender: a refused SMTPUTF8 (5.6.7,
  RFC 6531's "Non-ASCII addresses not permitted for that sender/recipient",
  or its words) is this relay unable to carry the message's UTF-8
  addresses, as when it offers no SMTPUTF8 at all: ``unsupported_message``,
  failed over (another provider may support SMTPUTF8), never the
  recipient's; other 5.6.x (the content) the message's; 5.1.x (5.1.7,
  5.1.8: a bad sender) our sender; a bare
  550 or 553 our sender; its declared size or a parameter (552, 555, 501,
  5.3.4, 5.5.x) the message's; anything else (5.7.x, Gmail's 5.4.5 daily
  limit, 530 a login) the account's.
"""

import re

from integrations.errors import ProviderError, Rejected
from notifications.providers.outcomes import (
    SENDING_BLOCKED,
    sender_not_verified,
    sending_blocked,
    sending_not_allowed,
    unsupported_message,
)

MESSAGE_REJECTED = "message_rejected"
# Permanent replies refusing our sender (Postfix's "Sender address rejected",
# Exchange's 5.7.60 "permissions to send as this sender") or our relaying
# (Postfix "Relay access denied", Sendmail "Relaying denied", Exchange "Unable
# to relay"): the account's setup, whichever command they answer.
_SENDER_REFUSED = re.compile(r"sender address rejected|permissions? to send as", re.I)
_RELAY_DENIED = re.compile(
    r"relay(?:ing)?(?: access)? (?:denied|not permitted|not allowed)|unable to relay",
    re.I,
)
# Our connecting IP (or sending domain) on a blocklist: Postfix's "Client host
# [ip] blocked using zen.spamhaus.org", Microsoft's 5.7.606 "banned sending
# IP", "listed on a DNSBL", "blacklisted".
_BLOCKLISTED = re.compile(
    r"blocked using|\b(?:black|block|deny|ban)[- ]?list(?:ed)?\b|\b(?:dnsbl|rbl)\b"
    r"|\bip\b[^.;]{0,40}\blisted\b|spamhaus|spamcop|banned sending ip"
    r"|poor reputation",
    re.I,
)
# Our sending server's reputation in words no link in a message carries
# (Gmail's 5.7.1 "unsolicited mail originating from your IP address",
# Microsoft's 5.7.708 "traffic not accepted from this IP"): at any command.
_OUR_IP = re.compile(r"\bfrom (?:your|this) ip\b", re.I)
# Our sender's authentication failed (SPF, DKIM, DMARC: Postfix's policy
# service "SPF fail - not authorized" at RCPT, Gmail's 5.7.26 "Unauthenticated
# email ... DMARC policy", Microsoft's 5.7.509): our setup at any command.
_UNAUTHENTICATED = re.compile(
    r"\b(?:spf|dkim|dmarc)\b|sender policy framework|unauthenticated email", re.I
)
# Postfix's client and HELO checks, answered at RCPT by default
# (smtpd_delay_reject): our sending server, not the recipient.
_CLIENT_REFUSED = re.compile(r"client host rejected|helo command rejected", re.I)
# A refused SMTPUTF8 worded without an enhanced code.
_SMTPUTF8_REFUSED = re.compile(r"smtputf8|non-ascii|utf-?8 address", re.I)
# RFC 3463: class.subject.detail, at the start of the reply's text.
_ENHANCED = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
# What a reply quotes (an address in <...>, a "quoted" string) is not the
# relay's own words: a recipient's or subject's text never reads as our setup.
_QUOTED = re.compile(r'<[^>]*>|"(?:[^"\\]|\\.)*"')


def enhanced_status(reply: bytes | str) -> tuple[int, int, int] | None:
    """The reply's enhanced status code as (class, subject, detail); None
    when it starts with none."""
    found = _ENHANCED.match(_text(reply))
    if found is None:
        return None
    klass, subject, detail = found.groups()
    return int(klass), int(subject), int(detail)


def mail_from_refusal(code: int, reply: bytes | str, *, to: str) -> ProviderError:
    """The error for a 5xx reply to MAIL FROM. ``to`` is the recipient as
    sent, which the reply may quote."""
    setup = setup_refusal(code, reply, quoting=to, before_content=True)
    if setup is not None and setup.code == SENDING_BLOCKED:
        return setup
    status = enhanced_status(reply)
    subject = status[1] if status else None
    words = status is None and _SMTPUTF8_REFUSED.search(_own_words(reply, to))
    if subject == 6 or words:
        return _message_refusal(code, status)
    if setup is not None:
        return setup
    if subject == 1 or (status is None and code in (550, 553)):
        # MAIL FROM names only our sender; 5.1.7 / 5.1.8: a bad sender.
        return sender_not_verified(
            "the relay refused our sender address", provider_code=str(code)
        )
    if _declared_by_message(code, status):
        return _rejected("the relay refused the message", code)
    if subject == 7:
        return sending_not_allowed(
            "the relay's policy refuses mail from this account",
            provider_code=str(code),
        )
    # MAIL FROM names only our sender and server: anything else (Gmail's
    # 5.4.5 daily limit, 530 a login, 5.3.x the relay's state) is the
    # account's; another account may send it.
    return sending_not_allowed(
        "the relay refuses mail from this account (a sending limit, a login, "
        "its own state)",
        provider_code=str(code),
    )


def _declared_by_message(code: int, status: tuple[int, int, int] | None) -> bool:
    """Whether a MAIL FROM refusal is of what the message declares there:
    its size (552, 5.3.4, 5.2.3) or a parameter it needs (555, 501, 5.5.x;
    not 530, authentication required, RFC 4954)."""
    if code == 530:
        return False
    if code in (501, 552, 555):
        return True
    return status is not None and (status[1] == 5 or status[1:] in {(3, 4), (2, 3)})


def setup_refusal(
    code: int, reply: bytes | str, *, quoting: str = "", before_content: bool = False
) -> ProviderError | None:
    """The error for a permanent reply refusing our sending server (a
    blocklist: only ``before_content``, as after DATA a listed link in the
    message reads the same), our sender or our relaying: the account's
    setup, not the recipient; None for any other reply. Only the relay's
    own words count (``quoting``: the recipient). The reply names
    addresses, so our own sentence is kept."""
    if code < 500:
        return None
    text = _own_words(reply, quoting)
    if (before_content and _BLOCKLISTED.search(text)) or _OUR_IP.search(text):
        return sending_blocked(
            "the relay refused our sending server: it is on a blocklist",
            provider_code=str(code),
        )
    status = enhanced_status(reply)
    if _UNAUTHENTICATED.search(text) or (status and _authentication_code(status)):
        # Another account may sign for our domain, or send from an IP in
        # its SPF record.
        return sending_not_allowed(
            "the relay refused our sender's authentication (SPF, DKIM or DMARC)",
            provider_code=str(code),
        )
    if _CLIENT_REFUSED.search(text):
        return sending_not_allowed(
            "the relay refused our sending server (its address or host name)",
            provider_code=str(code),
        )
    if _SENDER_REFUSED.search(text):
        return sender_not_verified(
            "the relay refused our sender address", provider_code=str(code)
        )
    if _RELAY_DENIED.search(text):
        return sending_not_allowed(
            "the relay does not relay mail for this account", provider_code=str(code)
        )
    return None


def _authentication_code(status: tuple[int, int, int]) -> bool:
    # X.7.20-X.7.27: RFC 7372's SPF, DKIM, reverse DNS and DMARC failures
    # and RFC 7505's null MX sender.
    return status[1] == 7 and 20 <= status[2] <= 27


def _message_refusal(code: int, status: tuple[int, int, int] | None) -> ProviderError:
    # 5.6.7, or no enhanced code at all: the words said SMTPUTF8. MAIL FROM
    # names no recipient, and a valid address this relay cannot carry is
    # not the recipient's fault.
    if status is None or status[2] == 7:
        return unsupported_message(
            "the relay cannot carry this message's UTF-8 addresses (SMTPUTF8)",
            provider_code=str(code),
        )
    return _rejected("the relay refused the message's content", code)


def _rejected(message: str, code: int) -> Rejected:
    return Rejected(message, code=MESSAGE_REJECTED, provider_code=str(code))


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _own_words(reply: bytes | str, recipient: str) -> str:
    """``reply`` without the recipient (as sent, or with its local part
    unquoted, as some relays print it), its domain (a relay names it alone:
    "Host dmarc.example not found") and anything in <...> or quotes."""
    text = _text(reply)
    local, _, domain = recipient.rpartition("@")
    bare = local.strip('"').replace("\\", "")
    unquoted = f"{bare}@{domain}"
    # A dotless domain ("localhost") could be part of any word: kept.
    named = [recipient, unquoted, domain if "." in domain else ""]
    for address in named:
        if address and address != "@":
            text = re.sub(re.escape(address), " ", text, flags=re.I)
    return _QUOTED.sub(" ", text)
