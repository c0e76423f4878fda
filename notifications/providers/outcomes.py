"""The email outcome rules: how a provider's answer or a library exception
becomes our error, and the errors adapters raise for recipients and senders
(docs/providers/email.md).

Outcome rules for email (they differ from the core's defaults on purpose: an
email API that answers 5xx has not queued the message, so failing over is
what keeps order confirmations going out):

- 408, 429, any 5xx, connection refused / connect timeout / DNS / TLS:
  ``NotProcessed`` (fail over; a paced bulk send waits out a 429);
- read timeout or a connection reset after the request went out: ``Unknown``
  (never resent automatically: the provider may have queued it);
- invalid or refused recipient: ``Rejected`` with code ``invalid_recipient``.


``EmailAdapter.email_call`` (or ``HttpAdapter.send`` with ``email_error_map``)
applies these rules, so the ProviderCall row, the breaker and failover all see
the email outcome.
"""

from typing import Any

import requests

from integrations.client.classify import classify_exception, classify_response
from integrations.errors import (
    ConfigurationError,
    NotProcessed,
    Outcome,
    ProviderError,
    Rejected,
)

__all__ = [
    "CONFIGURATION_CODES",
    "INVALID_RECIPIENT",
    "SENDER_NOT_VERIFIED",
    "SENDING_BLOCKED",
    "SENDING_NOT_ALLOWED",
    "SUBJECT_EMPTY",
    "UNSUPPORTED_MESSAGE",
    "RecipientStopped",
    "UnsupportedSender",
    "email_error_map",
    "email_exception",
    "email_outcome",
    "recipient_refused",
    "recipient_stop",
    "sender_not_verified",
    "sending_blocked",
    "sending_not_allowed",
    "subject_missing",
    "unsupported_message",
]

# The code of a Rejected error for an address the provider refuses.
INVALID_RECIPIENT = "invalid_recipient"
# The code of a ConfigurationError for a sender of ours the provider has not
# verified (an SES identity, a SendGrid Sender Identity, a Postmark Sender
# Signature): the account's setup, not the recipient; another account may send.
SENDER_NOT_VERIFIED = "sender_not_verified"
# The code of a ConfigurationError for an account not set up to send the
# message (a Mailgun sandbox domain's authorized recipients, a relay that
# does not relay for us): the account's setup, not the recipient.
SENDING_NOT_ALLOWED = "sending_not_allowed"
# The code of a ConfigurationError for our sending server refused for its
# reputation (its IP on a blocklist): not the sender address, not the
# recipient; another account sends from elsewhere.
SENDING_BLOCKED = "sending_blocked"
# The code of a ConfigurationError for a message this account cannot carry
# (a relay without SMTPUTF8 for its UTF-8 addresses, a feature the provider
# lacks): neither the recipient's fault nor the account failing; another
# account may send it. Not alerted: the account works for other mail.
UNSUPPORTED_MESSAGE = "unsupported_message"
# The code of a message whose rendered subject is empty, for an account whose
# provider refuses one (``EmailAdapter.subject_required``): refused before any
# call and failed over; a message every account refuses so fails at once.
SUBJECT_EMPTY = "subject_empty"
# Codes of our own configuration (alerted, but for UNSUPPORTED_MESSAGE):
# failed over, and kept on a message no account could send in place of
# "no provider available".
CONFIGURATION_CODES = frozenset(
    {
        SENDER_NOT_VERIFIED,
        UNSUPPORTED_MESSAGE,
        SENDING_NOT_ALLOWED,
        SENDING_BLOCKED,
        "configuration_error",
        "missing_credentials",
        "missing_settings",
        "credentials_unreadable",
    }
)


def email_outcome(error: ProviderError) -> ProviderError:
    """``error`` by the email rules: a 5xx answer is ``NotProcessed`` (the
    provider queued nothing); everything else keeps its outcome (a 408 is
    ``NotProcessed`` for every kind, in the client's table)."""
    status = error.http_status
    if error.outcome is Outcome.UNKNOWN and (status or 0) >= 500:
        return NotProcessed(
            error.message,
            code=error.code,
            http_status=status,
            retry_after=error.retry_after,
            provider_code=error.provider_code,
        )
    return error


def email_error_map(response: requests.Response) -> ProviderError | None:
    """An ``HttpAdapter`` error map: the client's default by status, under the
    email rules. Adapters call it last, after their own body table."""
    error = classify_response(response)
    return email_outcome(error) if error is not None else None


def email_exception(exc: BaseException) -> ProviderError | None:
    """Our error for a library exception, or None if it is not one we know.

    Libraries wrap the ``requests`` exception in their own (anymail raises a
    class that is both its error and the original type, with the original as
    ``__cause__`` and a message in place of urllib3's reason): the cause is
    classified, or a refused connection would read as an unknown outcome and
    never fail over. An exception carrying an HTTP ``response`` is classified
    by that response."""
    cause = _transport_cause(exc)
    if cause is not None:
        return email_outcome(classify_exception(cause))
    response = getattr(exc, "response", None)
    if isinstance(response, requests.Response):
        error = email_error_map(response)
        if error is not None:
            return error
    return None


def recipient_refused(message: str, *, provider_code: str = "") -> Rejected:
    """The error for an address the provider will not send to."""
    return Rejected(
        message, code=INVALID_RECIPIENT, provider_code=provider_code or None
    )


def sender_not_verified(
    message: str, *, provider_code: str = "", http_status: int | None = None
) -> ConfigurationError:
    """The error for a sender of ours the provider has not verified: not
    retried on the account, failed over, the message not failed as the
    customer's (``EmailAdapter.email_call`` alerts staff)."""
    return ConfigurationError(
        message,
        code=SENDER_NOT_VERIFIED,
        http_status=http_status,
        provider_code=provider_code or None,
    )


def sending_not_allowed(
    message: str, *, provider_code: str = "", http_status: int | None = None
) -> ConfigurationError:
    """The error for an account not set up to send the message (a Mailgun
    sandbox domain, a relay that does not relay for us): as
    ``sender_not_verified``, failed over and alerted, the customer not blamed."""
    return ConfigurationError(
        message,
        code=SENDING_NOT_ALLOWED,
        http_status=http_status,
        provider_code=provider_code or None,
    )


def sending_blocked(message: str, *, provider_code: str = "") -> ConfigurationError:
    """The error for our sending server on a blocklist (a relay's 5.7.1
    "blocked using ..."): as ``sending_not_allowed``, not retried on the
    account, failed over and alerted, the customer not blamed."""
    return ConfigurationError(
        message, code=SENDING_BLOCKED, provider_code=provider_code or None
    )


class UnsupportedSender(ConfigurationError):
    """``unsupported_message`` for our own sender the account cannot carry
    (a UTF-8 local part, a relay offering no SMTPUTF8): failed over as any
    such message, but every message from that sender fails here, so
    ``EmailAdapter.email_call`` alerts staff once per account an hour."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code=UNSUPPORTED_MESSAGE)


def unsupported_message(message: str, *, provider_code: str = "") -> ConfigurationError:
    """The error for a message this account cannot carry: not retried on
    the account nor counted by its breaker, failed over."""
    return ConfigurationError(
        message, code=UNSUPPORTED_MESSAGE, provider_code=provider_code or None
    )


def subject_missing() -> NotProcessed:
    """The error for an empty subject on an account that requires one:
    nothing was called, so another account may take the message."""
    return NotProcessed(
        "the rendered subject is empty and this provider requires one",
        code=SUBJECT_EMPTY,
    )


class RecipientStopped(Rejected):
    """``invalid_recipient`` for an address on the provider's own suppression
    list (Postmark's 406, inactive recipient): the sending service suppresses
    it here too, for ``suppressed_for`` (a suppression reason), as that
    account's stop on its list ``stream``, as a drop for the list does."""

    def __init__(
        self,
        message: str,
        *,
        suppressed_for: str,
        stream: str = "",
        provider_code: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(
            message,
            code=INVALID_RECIPIENT,
            provider_code=provider_code,
            http_status=http_status,
        )
        self.suppressed_for = suppressed_for
        self.stream = stream


def recipient_stop(error: Any) -> RecipientStopped | None:
    """The provider's stop ``error`` reports, or the failover error's cause."""
    for candidate in (error, getattr(error, "cause", None)):
        if isinstance(candidate, RecipientStopped):
            return candidate
    return None


def _transport_cause(exc: BaseException) -> requests.RequestException | None:
    # The innermost requests exception of the chain: that is the one whose
    # args hold urllib3's reason (refused, reset, timed out).
    found: requests.RequestException | None = None
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, requests.RequestException):
            found = current
        current = current.__cause__ or current.__context__
    if found is not None and getattr(found, "response", None) is not None:
        # An HTTP error response, not a transport failure.
        return None
    return found
