"""What makes a configuration value usable, as plain functions of the value:
the settings stop the start on a problem, and code that meets a value set some
other way (a test's override) can fall back instead of failing every request.
Each returns None when the value is fine, else what is wrong, in a few words."""

import ipaddress
import re
from email.utils import getaddresses
from urllib.parse import urlsplit

# DRF reads the period by its first letter only: the spellings it documents.
_RATE = re.compile(r"([0-9]+)/(s|sec|second|m|min|minute|h|hour|d|day)")
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
    """An https:// URL of a host other than this machine."""
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
    if host == "localhost" or host.endswith(".localhost"):
        return "points at this machine"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_loopback or address.is_unspecified:
        return "points at this machine"
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


def sender_address_problem(value: str) -> str | None:
    """One mailbox (``Name <local@domain>`` or a bare address) on one line: a
    line break would add headers, a second mailbox a second sender."""
    if "\r" in value or "\n" in value:
        return "holds a line break"
    mailboxes = getaddresses([value])
    if len(mailboxes) != 1:
        return "is not exactly one address (quote a name holding a comma)"
    local, at, domain = mailboxes[0][1].rpartition("@")
    if not (local and at and domain):
        return "is not an email address"
    return None
