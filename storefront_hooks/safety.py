"""What an endpoint URL may point at. The storefront chooses the URL, so a
request must never reach our own network: private, loopback, link-local and
other non-global addresses are refused unless
``STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` is on (development, tests).

The URL's host is checked when it is saved; each address a name resolves
to is checked before it is connected to (an inner one gets not even a SYN),
and the address a connection reached once more before anything is sent on
it, so a name that resolves (or later re-resolves) to an inner address is
refused too. IPv6 forms that carry an IPv4 address a gateway translates to
(NAT64, 6to4, IPv4-compatible or -translated) are judged by that address.
"""

import ipaddress
import socket
import sys
import threading
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from requests import PreparedRequest
from requests.exceptions import RequestException
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
)
from urllib3.util.connection import allowed_gai_family

from integrations.models.accounts import Mode

_VALID_URL = URLValidator(schemes=["http", "https"])
# Host-name look-ups running at once in a process, abandoned ones included
# (a resolver that never answers holds each until its own give-up).
MAX_PENDING_LOOKUPS = 8


class UrlRefused(ValueError):
    """The URL may not be used as an endpoint; the message says why."""


class AddressRefused(Exception):
    """A connection reached an address endpoints may not use."""

    def __init__(self) -> None:
        super().__init__("endpoint resolved to a private or reserved address")


class ResolutionTimedOut(Exception):
    """The endpoint's host name did not resolve within the connect budget,
    or (``busy``) was not looked up: too many look-ups still outlast theirs."""

    def __init__(self, host: str, seconds: float, *, busy: bool = False) -> None:
        if busy:
            super().__init__(
                f"endpoint host {host} not looked up: {MAX_PENDING_LOOKUPS} "
                "look-ups of this process still outlast their deadline"
            )
            return
        super().__init__(
            f"endpoint host {host} did not resolve within {seconds:g} s "
            "(the connect timeout)"
        )


def private_allowed() -> bool:
    return bool(settings.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES)


def address_allowed(address: str) -> bool:
    """True for a globally routable unicast address, or anything at all when
    private addresses are allowed."""
    if private_allowed():
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _inner_ipv4(ip)
        if inner is not None:
            ip = inner
        elif ip.is_site_local or any(ip in net for net in _LOCAL_USE_V6):
            return False
    return ip.is_global and not ip.is_multicast


# IPv6 ranges whose last 32 bits are an IPv4 address a NAT64 gateway (or a
# host's own stack) connects to: NAT64, IPv4-compatible, IPv4-translated.
_EMBEDS_IPV4 = [
    ipaddress.IPv6Network(net) for net in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96")
]


# Not global, though this Python's ``is_global`` predates their listing:
# local-use NAT64 (RFC 8215: any mapping, inner ones too), SRv6 SIDs.
_LOCAL_USE_V6 = [ipaddress.IPv6Network(net) for net in ("64:ff9b:1::/48", "5f00::/16")]


def _inner_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _EMBEDS_IPV4):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def url_check(url: str, *, mode: str) -> None:
    """Raise UrlRefused if ``url`` cannot be an endpoint in ``mode``."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise UrlRefused("Enter a valid URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRefused("Enter an http:// or https:// URL.")
    try:
        # What the admin's URL field takes, through the API too.
        _VALID_URL(url)
    except ValidationError:
        raise UrlRefused("Enter a valid URL.") from None
    if mode == Mode.LIVE and parts.scheme != "https":
        raise UrlRefused("A live endpoint must use https://.")
    if parts.username or parts.password:
        raise UrlRefused("Put no user name or password in the URL.")
    host = _wire_host(url)
    if host == "localhost" or host.endswith(".localhost"):
        host = "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return  # A name: its addresses are checked when connecting.
    if not address_allowed(host):
        raise UrlRefused("The URL points at a private or reserved address.")


def _wire_host(url: str) -> str:
    """The host as a delivery sends it (IDNA-encoded, as requests does): a
    name IDNA cannot encode, which Django's URL validator lets through
    (fullwidth digits too), would fail every delivery for days."""
    prepared = PreparedRequest()
    try:
        prepared.prepare_url(url, None)
    except (RequestException, LocationParseError, UnicodeError, ValueError):
        raise UrlRefused("Enter a valid URL.") from None
    host = urlsplit(prepared.url).hostname or ""
    return host.rstrip(".")


def _check_peer(sock: Any) -> None:
    if not address_allowed(sock.getpeername()[0]):
        sock.close()
        raise AddressRefused


def _connect_any(conn: HTTPConnection) -> socket.socket:
    """urllib3's ``create_connection``, but an address that may not be used
    is skipped unconnected, and the connect timeout bounds all the tries
    together: a name with many unanswering addresses got it once each."""
    timeout = conn.timeout if isinstance(conn.timeout, int | float) else None
    ends = None if timeout is None else time.monotonic() + timeout
    refused, error = False, None
    try:
        answers = _resolve(conn._dns_host, conn.port, timeout)
    except UnicodeError:
        # As urllib3's own connect reports a name IDNA cannot encode.
        raise LocationParseError(
            f"'{conn._dns_host}', label empty or too long"
        ) from None
    for family, kind, proto, _, address in answers:
        if not address_allowed(address[0]):
            refused = True
            continue
        left = None if ends is None else ends - time.monotonic()
        if left is not None and left <= 0:
            error = error or TimeoutError("connect timed out")
            break
        sock = socket.socket(family, kind, proto)
        try:
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(left)
            if conn.source_address:
                sock.bind(conn.source_address)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        sock.settimeout(timeout)
        return sock
    if refused:
        raise AddressRefused
    raise error or OSError("getaddrinfo returns an empty list")


def _resolve(host: str, port: int, timeout: float | None) -> list[tuple]:
    """``getaddrinfo`` within ``timeout``: the system resolver has no
    deadline of ours (a stuck server holds it for its own retries), so a
    name is looked up in a daemon thread, left to finish on its own if it
    outlasts the budget. An address needs no look-up and no thread."""
    args = (host, port, allowed_gai_family(), socket.SOCK_STREAM)
    if timeout is None or _is_address(host):
        return socket.getaddrinfo(*args)
    look_up = _LookUp.joined(args)
    if look_up is None:
        raise ResolutionTimedOut(host, timeout, busy=True)
    if not look_up.done.wait(timeout):
        raise ResolutionTimedOut(host, timeout)
    if look_up.error is not None:
        raise look_up.error
    return look_up.answers


class _LookUp:
    """One ``getaddrinfo`` in its thread. A name still being looked up (an
    abandoned look-up stuck in the resolver) is joined, not asked again, and
    at most ``MAX_PENDING_LOOKUPS`` run at once in a process: a resolver
    that never answers holds that many threads, not one per delivery."""

    _pending: ClassVar[dict[tuple, "_LookUp"]] = {}
    _lock = threading.Lock()

    def __init__(self, args: tuple) -> None:
        self.args = args
        self.done = threading.Event()
        self.answers: list[tuple] = []
        self.error: BaseException | None = None

    @classmethod
    def joined(cls, args: tuple) -> "_LookUp | None":
        """The look-up of ``args`` under way or a new one; None past the bound."""
        with cls._lock:
            look_up = cls._pending.get(args)
            if look_up is not None:
                return look_up
            if len(cls._pending) >= MAX_PENDING_LOOKUPS:
                return None
            look_up = cls._pending[args] = cls(args)
        threading.Thread(target=look_up.run, name="webhook-dns", daemon=True).start()
        return look_up

    def run(self) -> None:
        try:
            self.answers = socket.getaddrinfo(*self.args)
        except BaseException as exc:  # handed to the waiting callers
            self.error = exc
        finally:
            with self._lock:
                self._pending.pop(self.args, None)
            self.done.set()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


class GuardedConnectionMixin:
    """Connects only to allowed addresses, before any byte (TLS included) is
    sent; errors as urllib3's own ``_new_conn`` raises them."""

    def _new_conn(self) -> Any:
        try:
            sock = _connect_any(self)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        except TimeoutError as exc:
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out."
            ) from exc
        except OSError as exc:
            raise NewConnectionError(
                self, f"Failed to establish a new connection: {exc}"
            ) from exc
        _check_peer(sock)
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock


class GuardedHTTPConnection(GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(GuardedConnectionMixin, HTTPSConnection):
    pass


class GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


POOL_CLASSES = {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}
