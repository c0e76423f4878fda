"""The base of providers reached through their official SDK (Stripe,
Braintree): the SDK's HTTP layer is pointed at the account's ProviderClient
session, and every SDK call runs in one wrapper with the adapter's exception
map."""

from collections.abc import Callable
from typing import TypeVar

import requests

from integrations.client import CallContext, client_for
from integrations.errors import ProviderError
from integrations.providers.base import BaseAdapter

T = TypeVar("T")


class SdkAdapter(BaseAdapter):
    """An adapter builds its SDK client on ``session`` and supplies
    ``sdk_error``, its table from SDK exceptions to our errors."""

    @property
    def session(self) -> requests.Session:
        """The session the SDK must send through (correlation id, timeouts
        clamped to the deadline, each request counted as an attempt)."""
        return client_for(self.account).session

    def sdk_error(self, exc: Exception) -> ProviderError | None:
        """Our error for an SDK exception; None leaves it to the client
        (``requests`` exceptions by their transport meaning, anything else
        ``unknown``)."""
        return None

    def run(
        self,
        operation: str,
        call: Callable[[CallContext], T],
        *,
        idempotency_key: str | None = None,
        idempotent: bool = True,
    ) -> T:
        """One operation: ``call(ctx)`` retried by the client where safe
        (``idempotent``: a read, or a write the provider replays by
        ``ctx.idempotency_key``). The SDK must make no retries of its own."""
        return client_for(self.account).call(
            operation,
            call,
            idempotent=idempotent,
            idempotency_key=idempotency_key,
            exception_map=self.sdk_error,
        )
