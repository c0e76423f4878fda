"""The error a webhook handler raises for a row it can never process, and
the reading of a stored payload that turns a malformed one into it."""

from collections.abc import Iterator
from contextlib import contextmanager

from integrations.client.session import calls_counted
from integrations.errors import ProviderError

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
