"""What the storefront is told about a send that did not go through: our own
sentence for the error code, never the provider's text (a remote server's
reply, hosts, addresses, possibly what we sent). The provider's words stay
in ``last_error`` and on the message's events for staff, secrets masked, as
payments keeps them (``payments.services.messages``)."""

from typing import Any

from notifications.models import EmailMessage, EmailStatus
from notifications.providers.outcomes import (
    CONFIGURATION_CODES,
    SUBJECT_EMPTY,
    UNSUPPORTED_MESSAGE,
)
from notifications.services.bulk_cancel import BULK_CANCELLED
from notifications.services.unrendered import RENDER_CODES

WORKER_LOST = "worker_lost"
# An account this deploy cannot use as set up (its adapter gone, credentials
# missing or unreadable, a required setting unset): it sends nothing until
# staff mend it, which they may do at any time (a rotated secret), so it is
# a failed attempt, spent and tried again on the usual schedule up to
# EMAIL_MAX_ATTEMPTS; neither a pause (unbounded) nor a refusal for good.
MISCONFIGURED = "misconfigured"
ACCOUNT_SETUP_CODES = frozenset(
    {
        "configuration_error",
        "missing_credentials",
        "missing_settings",
        "credentials_unreadable",
    }
)
# An account's answer that it will never send this message (an empty subject
# it requires, something it cannot carry): no later try there would send it.
PERMANENT_REFUSALS = frozenset({SUBJECT_EMPTY, UNSUPPORTED_MESSAGE})
# Every account refused the message for good, not all for the same reason
# (one its empty subject, another something it cannot carry).
REFUSED_EVERYWHERE = "refused_everywhere"
MESSAGES: dict[str, str] = {
    "invalid_recipient": "The provider refused the recipient's address.",
    # Refused by our own check, no provider asked (the outbox's order mail).
    "invalid_email": "The recipient's address is not a valid email address; "
    "the message was not sent.",
    "no_provider_available": "No email provider could take the message.",
    # Refused before any provider saw it (providers/smtp.py): our sender or
    # headers, not the provider's verdict.
    "invalid_sender": "The sender address cannot be used; the message was not sent.",
    # A provider has not verified our sender (providers' ``SENDER_NOT_VERIFIED``):
    # our setup, neither the recipient's address nor the message's content.
    "sender_not_verified": "The email provider has not verified our sender "
    "address; the message was not sent through it.",
    # An account not set up to send it (a Mailgun sandbox domain, a relay
    # that does not relay for us): our setup, not the recipient's address.
    "sending_not_allowed": "The email provider account is not set up to send "
    "this message; it was not sent through it.",
    # Our sending server on a blocklist: our reputation, not the recipient.
    "sending_blocked": "The email provider refused our sending server; the "
    "message was not sent through it.",
    # No account can carry this message (a relay without SMTPUTF8 for its
    # UTF-8 addresses, a feature the provider lacks): neither the recipient
    # nor the content; the provider's reply stays with staff.
    "unsupported_message": "The email provider cannot carry this message (its "
    "UTF-8 addresses need SMTPUTF8, or it uses a feature the provider lacks); it "
    "was not sent through it.",
    REFUSED_EVERYWHERE: "Every enabled email provider refused the message "
    "for good, not all for the same reason (an empty subject one requires, "
    "something another cannot carry); it was not sent.",
    MISCONFIGURED: "The email provider account is not set up correctly; the "
    "message was not sent through it.",
    "message_invalid": "The message could not be built; it was not sent.",
    SUBJECT_EMPTY: "The message's subject is empty and no enabled email "
    "provider sends a message without one; it was not sent.",
    "invalid_header": "A header of the message holds a line break; it was not sent.",
    BULK_CANCELLED: "The bulk send was cancelled before this message went "
    "out; it was not sent.",
    WORKER_LOST: "The send was interrupted; the message may have gone out "
    "and is not sent again.",
}
# A message still tried again (``queued``) after such an attempt.
WHILE_QUEUED: dict[str, str] = {
    MISCONFIGURED: "An email provider account is not set up correctly; the "
    "message was not sent yet and is tried again.",
}
# A template that failed when the message was stored (services.unrendered).
TEMPLATE_FAILED = "The message could not be built from its template; it was not sent."
MESSAGES.update(dict.fromkeys(RENDER_CODES - {SUBJECT_EMPTY}, TEMPLATE_FAILED))
# By status, for any other code.
BY_STATUS: dict[str, str] = {
    EmailStatus.FAILED: "The email provider refused the message.",
    EmailStatus.UNKNOWN: "The email provider did not confirm the send; the "
    "message may have gone out and is not sent again.",
    EmailStatus.QUEUED: "No email provider could take the message yet; it is "
    "tried again.",
}
DEFAULT_MESSAGE = "The email provider did not take the message."


def public_error(message: EmailMessage) -> str:
    """Our sentence for the message's current failure; empty when none."""
    if not message.error_code:
        return ""
    if message.status == EmailStatus.QUEUED and message.error_code in WHILE_QUEUED:
        return WHILE_QUEUED[message.error_code]
    found = MESSAGES.get(message.error_code)
    return found or BY_STATUS.get(message.status, DEFAULT_MESSAGE)


def telling_reason(error: Any) -> tuple[str, str]:
    """The code and staff text a run that found no provider is kept with:
    every account refusing the message for good, each named with its
    reason; else the first account refusing for our configuration (a sender
    it has not verified, a missing credential), named, which beats "no
    provider available", a phrase that says nothing staff can fix."""
    if subject_refused_everywhere(error):
        names = ", ".join(attempt.account for attempt in error.attempts)
        return SUBJECT_EMPTY, (
            f"{names}: the rendered subject is empty and each of these "
            "providers requires one"
        )
    if refused_everywhere(error):
        codes = {a.code for a in error.attempts}
        if len(codes) == 1:
            # One reason shared by every account is the message's.
            reasons = "; ".join(f"{a.account}: {a.message}" for a in error.attempts)
            return codes.pop(), reasons
        # A mix is only true as "every account refused it for good"; each
        # account named with its own code, which its text may not say.
        return REFUSED_EVERYWHERE, "; ".join(
            f"{a.account} ({a.code}): {a.message}" for a in error.attempts
        )
    attempts = getattr(error, "attempts", None) or []
    if len(attempts) > 1 and any(a.code == MISCONFIGURED for a in attempts):
        # The account staff must mend, beside what each other one said.
        return MISCONFIGURED, "; ".join(
            f"{a.account} ({a.code}): {a.message}" for a in attempts
        )
    for attempt in attempts:
        if attempt.code in CONFIGURATION_CODES or attempt.code == MISCONFIGURED:
            return attempt.code, f"{attempt.account}: {attempt.message}"
    return error.code, error.message


def subject_refused_everywhere(error: Any) -> bool:
    """Whether every account a run found no provider in refused the message
    for its empty subject (nothing called): no later try would send it."""
    attempts = getattr(error, "attempts", None) or []
    return bool(attempts) and all(a.code == SUBJECT_EMPTY for a in attempts)


def refused_everywhere(error: Any) -> bool:
    """Whether every account a run found no provider in refused the message
    for good (``PERMANENT_REFUSALS``): it fails at once, not retried. An
    account skipped (its breaker open) or failing for a while may send it
    later, and then the message waits."""
    attempts = getattr(error, "attempts", None) or []
    return bool(attempts) and all(a.code in PERMANENT_REFUSALS for a in attempts)


def misconfigured_marked(error: Any) -> None:
    """Mark, in place, the attempts of a run that found no provider made on
    accounts unusable as set up (``ACCOUNT_SETUP_CODES``) as ``MISCONFIGURED``:
    failed attempts the message spends (``sending._asked``), named for
    staff. Only the message's reading: the call log and health checks keep
    reporting the account."""
    attempts = getattr(error, "attempts", None)
    if not attempts:
        return
    attempts[:] = [
        attempt._replace(
            code=MISCONFIGURED, message=f"account misconfigured: {attempt.message}"
        )
        if attempt.code in ACCOUNT_SETUP_CODES
        else attempt
        for attempt in attempts
    ]
