"""One POST of one delivery, through the shared ``ProviderClient``.

Each endpoint has its own hidden ``ProviderAccount`` and so its own client:
timeouts from the account's settings, a breaker per endpoint, the call log.
The client never retries a delivery (``max_attempts`` 1): the delivery row's
own schedule does, over days. Connections go through guarded pools that
refuse private addresses (``safety``); redirects are never followed, at most
``STOREFRONT_WEBHOOK_RESPONSE_MAX_BYTES`` of a response are read, and the
whole response (excerpt included) must arrive within the account's deadline,
connect plus read timeout (``ProviderTransport``).
"""

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
import urllib3
from django.conf import settings

from integrations.breaker import LOCAL_CODES
from integrations.client import (
    ProviderClient,
    classify_response,
    client_for,
    key_on_record,
)
from integrations.client.session import CallContext, ProviderTransport
from integrations.errors import (
    ConfigurationError,
    NotProcessed,
    ProviderError,
    Rejected,
)
from integrations.webhooks.messages import storable
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from storefront_hooks.safety import POOL_CLASSES, AddressRefused, ResolutionTimedOut
from storefront_hooks.signing import signed_headers

OPERATION = "storefront_webhook.deliver"
# A delivery over its endpoint's in-flight cap does not wait for a slot: the
# worker would sit idle; the row waits instead, for its turn (services.backlog).
IN_FLIGHT_WAIT_SECONDS = 0.0


class GuardedTransport(ProviderTransport):
    pool_classes = POOL_CLASSES


class EndpointClient(ProviderClient):
    """The shared client with guarded connections and no proxies (a proxy
    would hide which address a connection reached)."""

    def __init__(self, account: Any, **kwargs: Any) -> None:
        super().__init__(account, **kwargs)
        self.session.trust_env = False
        transport = GuardedTransport(self.config, max_retries=0)
        self.session.mount("http://", transport)
        self.session.mount("https://", transport)


def in_flight_limits() -> dict[str, float]:
    """The shared client's concurrency cap, per endpoint: at most
    ``STOREFRONT_WEBHOOK_MAX_IN_FLIGHT`` deliveries in flight at once across
    all workers, so a slow receiver cannot hold them all. A delivery over it
    is held back at once (``Attempt.held_back``: deferred, no attempt used),
    its worker free for other work. A slot whose worker died is reclaimed
    after the delivery lease."""
    cap = settings.STOREFRONT_WEBHOOK_MAX_IN_FLIGHT
    if not cap:
        return {}
    return {
        "max_concurrency": cap,
        "concurrency_max_wait_seconds": IN_FLIGHT_WAIT_SECONDS,
        "concurrency_slot_ttl_seconds": settings.STOREFRONT_WEBHOOK_LEASE_SECONDS,
    }


def endpoint_client(endpoint: WebhookEndpoint) -> ProviderClient:
    """This process's client for ``endpoint`` (its connections are reused),
    rebuilt when the account's client settings change. The in-flight cap
    applies where the account's own settings name none (on the loaded row
    only: the setting, not the row, is its source)."""
    account = endpoint.account
    limits = in_flight_limits()
    if limits:
        account.settings = {**limits, **(account.settings or {})}
    return client_for(account, EndpointClient)


@dataclass(frozen=True)
class Attempt:
    """What one POST came to; ``error`` is None on a 2xx."""

    status_code: int | None
    duration_ms: int
    response_excerpt: str
    error: ProviderError | None
    # ``time.monotonic()`` when the status line came; None: no answer.
    answered_mono: float | None = None
    # When it came on the claim's (database's) clock, set by the caller that
    # knows when it claimed (``services.deliveries``): orders answers.
    answered_at: datetime | None = None

    @property
    def gone(self) -> bool:
        return self.status_code == 410

    @property
    def held_back(self) -> bool:
        """Refused by our own guards (the endpoint's breaker, rate limit or
        concurrency cap) before anything went out: not an attempt."""
        return self.error is not None and self.error.code in LOCAL_CODES


def _map_exception(exc: Exception) -> ProviderError | None:
    if isinstance(exc, AddressRefused):
        return ConfigurationError(str(exc), code="address_refused")
    if isinstance(exc, ResolutionTimedOut):
        # Nothing was sent: a failed attempt, like any DNS failure.
        return NotProcessed(str(exc), code="dns_timeout")
    return None


def _read_limited(response: requests.Response) -> str:
    """At most ``STOREFRONT_WEBHOOK_RESPONSE_MAX_BYTES`` of the body, read as
    it arrives and only until the delivery's deadline (the transport's
    response deadline ends the read; what came before it is kept). Stored
    on the row as text: a NUL (a binary body) is replaced, since PostgreSQL
    would refuse the settle and a 2xx would be sent again."""
    limit = settings.STOREFRONT_WEBHOOK_RESPONSE_MAX_BYTES
    got = bytearray()
    try:
        while len(got) < limit:
            chunk = response.raw.read1(limit - len(got), decode_content=True)
            if not chunk:
                break
            got += chunk
    except urllib3.exceptions.HTTPError:
        # The status line is what counts; a body cut off changes nothing.
        pass
    return storable(bytes(got[:limit]).decode("utf-8", errors="replace"))


def _response_error(response: requests.Response) -> ProviderError | None:
    status = response.status_code
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return Rejected(
            f"endpoint answered HTTP {status}; redirects are not followed",
            code="redirect_not_followed",
            http_status=status,
        )
    return classify_response(response) or Rejected(
        f"endpoint answered HTTP {status}", code="unexpected_status", http_status=status
    )


def delivery_post(
    endpoint: WebhookEndpoint, delivery: WebhookDelivery, *, timestamp: datetime
) -> Attempt:
    """POST the delivery's body, signed for ``timestamp``; never raises a
    provider error (it is in the result)."""
    body = delivery.body.encode()
    headers = signed_headers(
        # The previous secret's overlap ends on the database's clock.
        secrets_=endpoint.signing_secrets(timestamp),
        msg_id=delivery.public_id,
        timestamp=timestamp,
        body=body,
    )
    client = endpoint_client(endpoint)
    seen: dict[str, Any] = {"status": None, "excerpt": "", "answered": None}

    def post(ctx: CallContext) -> None:
        response = client.session.post(
            endpoint.url, data=body, headers=headers, allow_redirects=False, stream=True
        )
        seen["status"], seen["answered"] = response.status_code, time.monotonic()
        try:
            seen["excerpt"] = _read_limited(response)
        finally:
            response.close()
        error = _response_error(response)
        if error is not None:
            raise error

    started = time.monotonic()
    error: ProviderError | None = None
    try:
        # The key (the webhook-id) is on the delivery row, committed before
        # the POST: the call-log row is written behind the call instead.
        with key_on_record():
            client.call(
                OPERATION,
                post,
                idempotent=False,
                idempotency_key=delivery.public_id,
                exception_map=_map_exception,
            )
    except ProviderError as exc:
        error = exc
    duration_ms = round((time.monotonic() - started) * 1000)
    return Attempt(
        seen["status"], duration_ms, seen["excerpt"], error, seen["answered"]
    )
