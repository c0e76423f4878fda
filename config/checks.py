"""What makes a configuration value usable, as plain functions of the value:
the settings stop the start on a problem, and code that meets a value set some
other way (a test's override) can fall back instead of failing every request.
Each returns None when the value is fine, else what is wrong, in a few words."""

import ipaddress
import re
import socket
import unicodedata
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.utils import getaddresses
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# DRF reads the period by its first letter only, so "1000/hours" is 1000 an
# hour; "100/10s" is not 100 per 10 s (its first letter is a digit).
_RATE = re.compile(r"([0-9]+)/([smhd]\w*)", re.ASCII)
DEFAULT_API_RATE = "600/min"


def api_rate_problem(rate: str) -> str | None:
    """A rate DRF's throttle can read: a positive count, "/", a period."""
    match = _RATE.fullmatch(rate)
    if match is None:
        return "must be COUNT/PERIOD with PERIOD s, min, hour or day (600/min)"
    if int(match.group(1)) < 1:
        return "must allow at least one request"
    return None


def public_https_url_problem(url: str) -> str | None:
    """An https:// URL of a host other than this machine that links can be
    built on: no ``?query`` or ``#fragment`` (a path appended would land in
    it) and no ``user:password@``."""
    if not url:
        return "is not set"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return "is not a URL"
    if parts.scheme != "https" or not host:
        return "is not an https:// URL"
    if "?" in url or "#" in url:
        return "has a ?query or #fragment (give the base address only)"
    if "@" in parts.netloc:
        return "holds a user or password"
    return "points at this machine" if _is_this_machine(host) else None


def _is_this_machine(host: str) -> bool:
    # "localhost." is localhost; the resolver reads 127.1 and 2130706433 as
    # 127.0.0.1 (inet_aton), and ::ffff:127.0.0.1 is IPv4's loopback too.
    host = host.rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.ip_address(socket.inet_aton(host))
        except OSError:
            return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def url_shown(url: str) -> str:
    """``scheme://host`` of a URL, for a message: never its user or password
    (nor path or query, where tokens live); "" when it names no host."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return ""
    if not host:
        return ""
    return f"{parts.scheme}://[{host}]" if ":" in host else f"{parts.scheme}://{host}"


def retry_schedule_problem(schedule: list[int]) -> str | None:
    """Waits between attempts, in seconds: at least one, each above zero."""
    if not schedule:
        return "lists no wait (webhooks would be sent once, never retried)"
    if min(schedule) <= 0:
        return "has a wait that is not above zero"
    return None


def redis_url_problem(url: str) -> str | None:
    """A URL redis-py can connect with: redis://, rediss:// or unix://."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return "has a port that is not a number"
    if parts.scheme not in ("redis", "rediss", "unix"):
        return "must start with redis://, rediss:// or unix://"
    if parts.scheme != "unix" and not parts.hostname:
        return "names no host"
    return None


def redis_url_with_timeouts(url: str, *, connect: float, socket: float) -> str:
    """``url`` with redis-py's connect and socket timeouts in its query (for
    clients built from a URL alone, as django-q's broker); any the URL
    already sets are kept."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    names = {name for name, _ in query}
    for name, seconds in (
        ("socket_connect_timeout", connect),
        ("socket_timeout", socket),
    ):
        if name not in names:
            query.append((name, repr(float(seconds))))
    return urlunsplit(parts._replace(query=urlencode(query)))


def sender_address_problem(value: str) -> str | None:
    """One mailbox (``Name <local@domain>`` or a bare address) on one line: a
    line break would add headers, a second mailbox a second sender."""
    if "\r" in value or "\n" in value:
        return "holds a line break"
    mailboxes = getaddresses([value])
    if len(mailboxes) != 1:
        return "is not exactly one address (quote a name holding a comma)"
    name, address = mailboxes[0]
    local, at, domain = address.rpartition("@")
    if not (local and at and domain):
        return "is not an email address"
    return display_name_problem(name, address)


def display_name_problem(name: str, address: str) -> str | None:
    """A display name holding an address other than the mailbox's own
    (``"support@bank.com" <shop@ours>``): readers see the name, so the mail
    passes for another sender's (spam filters score it: SpamAssassin's
    FROMNAME_EMAIL). Read as a reader sees it: encoded words decoded, "@"'s
    look-alikes (U+FF20, U+FE6B) folded to "@" (NFKC)."""
    shown = unicodedata.normalize("NFKC", _decoded(name)).strip()
    if "@" not in shown or shown.casefold() == address.casefold():
        return None
    return "has a display name holding an address"


def _decoded(name: str) -> str:
    try:
        return str(make_header(decode_header(name)))
    except (HeaderParseError, LookupError, UnicodeError):
        return name  # shown as it is, undecoded
