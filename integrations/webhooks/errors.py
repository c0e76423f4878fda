"""The errors a webhook handler raises for a row it can never process (the
row itself, or a configuration that routes it to the wrong handler), the
reading of a stored payload that turns a malformed one into the first, and
the adapter look-up that raises the second."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from integrations.client.session import calls_counted
from integrations.errors import ProviderError

if TYPE_CHECKING:
    from integrations.models import WebhookEvent
    from integrations.providers.base import BaseAdapter

AdapterT = TypeVar("AdapterT", bound="BaseAdapter")

# What reading a malformed payload raises: a key or index missing, a value of
# the wrong type or out of range. Reading is a function of the row alone.
PAYLOAD_ERRORS = (LookupError, TypeError, ValueError, AttributeError)
# An adapter's "cannot read this" (an amount it cannot convert exactly, an
# event without the part it must carry).
MALFORMED_CODES = frozenset({"malformed_response", "malformed_event"})


class UnprocessableEvent(Exception):
    """The stored event itself is unusable (malformed or contradictory
    payload): the same row fails the same way on every attempt. Processing
    stores it dead at once, with this error, instead of retrying it; staff
    see it in the admin and may replay it once the cause is fixed. Anything
    that may pass on a later try (a lookup not there yet, an outage) must
    raise something else, which is retried with backoff."""


class MisroutedEvent(Exception):
    """A configuration error: the event was routed to the handler of another
    kind of account (SWITCHYARD_WEBHOOK_HANDLERS, or an adapter's
    ``webhook_handler``, names the wrong one). Every attempt fails the same
    way until the configuration changes, so processing stores it dead at
    once; staff replay it once the routing is fixed."""


def handler_adapter(event: "WebhookEvent", expected: type[AdapterT]) -> AdapterT:
    """The adapter of the event's account, for a handler of ``expected``'s
    kind; MisroutedEvent if the account is of another kind."""
    from integrations import registry

    adapter = registry.get_adapter(event.account)
    if isinstance(adapter, expected):
        return adapter
    handler = adapter.webhook_handler(event.event_type)
    raise MisroutedEvent(
        f"{handler} handles {expected.kind} accounts, but account "
        f"{event.account.slug!r} is a {adapter.kind!r} account: its "
        f"{event.event_type!r} events are routed there by "
        f"SWITCHYARD_WEBHOOK_HANDLERS[{adapter.kind!r}] "
        f"(or {type(adapter).__name__}.webhook_handler)"
    )


@contextmanager
def payload_read(what: str, *, malformed_code: bool = True) -> Iterator[None]:
    """Around an adapter's reading of the event's payload: what a malformed
    payload raises becomes UnprocessableEvent, naming ``what``. With
    ``malformed_code``, so does a provider error coded as one of
    ``MALFORMED_CODES``; a caller that handles those itself says False.
    Once the reading has called the provider (PayPal looks a refund's capture
    up), nothing is taken as the row's fault: the call's answer (garbled, or
    of a shape we cannot read) may differ next time, so it propagates and is
    retried; so does any other provider error."""
    with calls_counted() as calls:
        try:
            yield
        except PAYLOAD_ERRORS as exc:
            if calls[0]:
                raise
            raise UnprocessableEvent(f"{what}: {type(exc).__name__}: {exc}") from exc
        except ProviderError as exc:
            if calls[0] or not malformed_code or exc.code not in MALFORMED_CODES:
                raise
            raise UnprocessableEvent(f"{what}: {exc}") from exc
