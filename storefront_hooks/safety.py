"""What an endpoint URL may point at. The storefront chooses the URL, so a
request must never reach our own network: private, loopback, link-local and
other non-global addresses are refused unless
``STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` is on (development, tests).

The URL's host is checked when it is saved, and the address a connection
actually reached is checked again before anything is sent on it, so a name
that resolves (or later re-resolves) to an inner address is refused too.
"""

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from integrations.models.accounts import Mode


class UrlRefused(ValueError):
    """The URL may not be used as an endpoint; the message says why."""


class AddressRefused(Exception):
    """A connection reached an address endpoints may not use."""

    def __init__(self) -> None:
        super().__init__("endpoint resolved to a private or reserved address")


def private_allowed() -> bool:
    return bool(settings.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES)


def address_allowed(address: str) -> bool:
    """True for a globally routable unicast address, or anything at all when
    private addresses are allowed."""
    if private_allowed():
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_check(url: str, *, mode: str) -> None:
    """Raise UrlRefused if ``url`` cannot be an endpoint in ``mode``."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise UrlRefused("Enter a valid URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRefused("Enter an http:// or https:// URL.")
    if mode == Mode.LIVE and parts.scheme != "https":
        raise UrlRefused("A live endpoint must use https://.")
    if parts.username or parts.password:
        raise UrlRefused("Put no user name or password in the URL.")
    host = parts.hostname
    if host == "localhost" or host.endswith(".localhost"):
        host = "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return  # A name: its addresses are checked when connecting.
    if not address_allowed(host):
        raise UrlRefused("The URL points at a private or reserved address.")


def _check_peer(sock: Any) -> None:
    if not address_allowed(sock.getpeername()[0]):
        sock.close()
        raise AddressRefused


class GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> Any:
        sock = super()._new_conn()
        _check_peer(sock)
        return sock


class GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> Any:
        # Before the TLS handshake: nothing is sent to a refused address.
        sock = super()._new_conn()
        _check_peer(sock)
        return sock


class GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


POOL_CLASSES = {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}
