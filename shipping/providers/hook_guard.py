"""The adapter template's guard around a carrier's hook.

A hook that raises anything but a ``ProviderError`` is a bug or an answer we
cannot read (a 200 whose body has a wrong type at one place). Once a request
went out the carrier may have acted on it (a label bought and billed), so the
error is ``Unknown(malformed_response)``: never a bare exception (a 500 and a
shipment left ``purchasing``), never a failure the shop would retry by buying
again. Before any request went out nothing was done: ``NotProcessed``. What
went wrong is logged with its traceback for staff; the caller is told only
our own words.

"Went out" is counted at ``send_response``, the one door of every HTTP
carrier adapter (``counting_sends``), from the moment a call is started: a
call refused by our breaker counts too, erring towards ``unknown``. A token
fetch's own requests (``integrations.oauth.fetching_token``) are not the
operation's: they do not count.
"""

import functools
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from integrations.crypto import CredentialsDecryptError
from integrations.errors import ConfigurationError, NotProcessed, ProviderError, Unknown
from integrations.oauth import fetching_token

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Requests started by the hook in flight; None outside any hook.
_sent: ContextVar[list[int] | None] = ContextVar("carrier_hook_sent", default=None)


def counting_sends(cls: type) -> None:
    """Make ``cls.send_response`` (an HTTP adapter's) count the requests a
    hook starts; once per class, whatever its bases."""
    send = getattr(cls, "send_response", None)
    if send is None or getattr(send, "counts_sends", False):
        return

    @functools.wraps(send)
    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not fetching_token():
            request_started()
        return send(self, *args, **kwargs)

    counted.counts_sends = True  # type: ignore[attr-defined]
    cls.send_response = counted  # type: ignore[attr-defined]


def request_started() -> None:
    """Note that the running hook sent (or tried to send) a request; for an
    adapter whose calls do not pass through ``send_response``."""
    sent = _sent.get()
    if sent is not None:
        sent[0] += 1


def guarded(carrier: str, operation: str, hook: Callable[[], T]) -> T:
    """``hook()``, any error it raises a ``ProviderError`` (see the module)."""
    token = _sent.set([0])
    went_out = 0
    try:
        return hook()
    except ProviderError:
        raise
    except Exception as error:
        went_out = _sent.get()[0]  # type: ignore[index]
        if isinstance(error, CredentialsDecryptError) and not went_out:
            # The account's configuration, not a bug: its callers tell staff.
            raise ConfigurationError(
                f"the {carrier} account's stored credentials cannot be "
                "decrypted with the configured keys",
                code="credentials_unreadable",
            ) from None
        logger.exception(
            "carrier hook raised an unexpected error",
            extra={"carrier": carrier, "operation": operation, "sent": went_out},
        )
        if went_out:
            raise Unknown(
                f"{carrier} sent an answer that could not be read",
                code="malformed_response",
            ) from None
        raise NotProcessed(
            f"the {carrier} request could not be prepared", code="internal_error"
        ) from None
    finally:
        went_out = _sent.get()[0]  # type: ignore[index]
        _sent.reset(token)
        # A hook run inside another (a template calling a template) counts
        # for the outer one too.
        outer = _sent.get()
        if outer is not None:
            outer[0] += went_out
