"""The email adapter contract: the operations every email adapter implements
and the workflow around them (checks before the call, the outcome rules on
every call). The typed values, checks, domain helpers and outcome rules live
in their own modules and are re-exported here, where adapters import them.
"""

import logging
import threading
from abc import abstractmethod
from collections.abc import Callable
from time import monotonic
from typing import Any, TypeVar

from redis.exceptions import RedisError

from integrations import cache_clock
from integrations.client import CallContext, client_for
from integrations.errors import ProviderError
from integrations.providers.base import BaseAdapter
from integrations.redis_line import outage
from integrations.webhooks.messages import WebhookMessage
from notifications.providers.domains import (
    SENDING_DOMAINS_FIELD,
    address_domain,
    domain_ascii,
    domain_entries,
    idn_address,
    idn_ascii,
    sending_domain_entry,
    sending_domains_clean,
    sending_domains_errors,
)
from notifications.providers.email_types import (
    MESSAGE_ID_HEADER,
    BounceType,
    EmailCategory,
    EmailEventRecord,
    EmailEventType,
    OutboundEmail,
    SendResult,
    SendStatus,
)
from notifications.providers.header_checks import (
    HEADER_BREAKS,
    INVALID_HEADER,
    INVALID_SENDER,
    header_check,
    sender_check,
)
from notifications.providers.outcomes import (
    INVALID_RECIPIENT,
    SENDER_NOT_VERIFIED,
    SENDING_BLOCKED,
    SENDING_NOT_ALLOWED,
    SUBJECT_EMPTY,
    RecipientStopped,
    UnsupportedSender,
    email_error_map,
    email_exception,
    email_outcome,
    recipient_refused,
    recipient_stop,
    sender_not_verified,
    sending_blocked,
    sending_not_allowed,
    subject_missing,
)

__all__ = [
    "HEADER_BREAKS",
    "INVALID_HEADER",
    "INVALID_RECIPIENT",
    "INVALID_SENDER",
    "MESSAGE_ID_HEADER",
    "SENDER_NOT_VERIFIED",
    "SENDING_BLOCKED",
    "SENDING_DOMAINS_FIELD",
    "SENDING_NOT_ALLOWED",
    "SUBJECT_EMPTY",
    "BounceType",
    "EmailAdapter",
    "EmailCategory",
    "EmailEventRecord",
    "EmailEventType",
    "OutboundEmail",
    "RecipientStopped",
    "SendResult",
    "SendStatus",
    "address_domain",
    "domain_ascii",
    "email_error_map",
    "email_exception",
    "email_outcome",
    "header_check",
    "idn_address",
    "idn_ascii",
    "recipient_refused",
    "recipient_stop",
    "sender_check",
    "sender_not_verified",
    "sending_blocked",
    "sending_domain_entry",
    "sending_domains_clean",
    "sending_domains_errors",
    "sending_not_allowed",
]


logger = logging.getLogger(__name__)

T = TypeVar("T")

# An account whose own setup is wrong fails every message the same way: the
# log says so once per account and reason per interval (re-alerted hourly
# while it stays broken) for all workers together, never once per message.
# Each message still stores its error.
SETUP_ALERT_INTERVAL = 3600.0
# This process's own limit: used while the shared cache cannot be asked.
_setup_alerted: dict[tuple[int, str], float] = {}
_setup_alert_lock = threading.Lock()

# Reason -> the ERROR line (``%s``: the provider's name); no addresses.
SETUP_ALERTS = {
    SENDER_NOT_VERIFIED: (
        "%s refused our sender as not verified; verify the sender "
        "identity (or domain) for this account at the provider"
    ),
    # Another account sends from another server.
    SENDING_BLOCKED: (
        "%s refused our sending server: its IP (or domain) is on a "
        "blocklist; have it delisted or send through another account"
    ),
    "unsupported_sender": (
        "%s cannot carry our sender address (its UTF-8 local part needs "
        "SMTPUTF8): nothing from that sender goes out on this account; "
        "use an ASCII sender or a relay offering SMTPUTF8"
    ),
    # A sandbox domain, a relay that does not relay for us.
    SENDING_NOT_ALLOWED: (
        "%s refused to send for this account's setup (sending domain, "
        "sandbox or relay permission); fix the account at the provider"
    ),
}


def setup_alerts_forget() -> None:
    """Forget this process's own alerts (tests; a fresh process). The shared
    claims stay in the cache until they expire."""
    with _setup_alert_lock:
        _setup_alerted.clear()


def setup_alert_key(account_pk: int, reason: str) -> str:
    """The cache key of the shared claim to alert for ``reason``."""
    return f"email:setup-alert:{account_pk}:{reason}"


def _setup_alert_due(account_pk: int, reason: str) -> bool:
    # Whichever worker adds the claim alerts; it expires after the interval
    # by the cache's own clock. Without the cache, this process's limit.
    try:
        claimed = _setup_alert_claim(setup_alert_key(account_pk, reason))
    except Exception:  # an alert must never fail a send
        return _setup_alert_due_here(account_pk, reason)
    if claimed:  # an outage that follows does not re-alert at once
        _setup_alert_due_here(account_pk, reason)
    return claimed


def _setup_alert_claim(key: str) -> bool:
    if cache_clock.on_database_cache():
        # A savepoint: a failed query leaves the caller's transaction usable.
        with cache_clock.atomic():
            # A live claim is only read: adding over it locks its row, so
            # each refused message of every worker would wait on that row.
            if cache_clock.shared_get(key) is not None:
                return False
            return cache_clock.shared_add(key, 1, SETUP_ALERT_INTERVAL)
    try:
        outage.check()  # a Redis that just failed costs no second timeout
        claimed = cache_clock.shared_add(key, 1, SETUP_ALERT_INTERVAL)
    except RedisError as exc:
        outage.failed(exc)
        raise
    outage.answered()
    return claimed


def _setup_alert_due_here(account_pk: int, reason: str) -> bool:
    now = monotonic()
    with _setup_alert_lock:
        last = _setup_alerted.get((account_pk, reason))
        if last is not None and now - last < SETUP_ALERT_INTERVAL:
            return False
        _setup_alerted[(account_pk, reason)] = now
        return True


class EmailAdapter(BaseAdapter):
    """What every email provider implements: ``deliver`` (called by
    ``send``), ``parse_email_events`` and ``health_check``."""

    kind = "email"
    # The provider refuses a message whose subject is empty: checked at our
    # API (notifications.services.limits) and before every send (``send``).
    subject_required: bool = False

    def send(
        self,
        message: OutboundEmail,
        *,
        pacing: bool = False,
        max_wait: float | None = None,
    ) -> SendResult:
        """Hand one message to the provider. ``pacing=True`` (bulk sends)
        waits for the account's rate limit and a provider 429 up to
        ``max_wait`` seconds, then raises ``Paced``. Raises ProviderError
        subclasses by the module's outcome rules; ``Rejected``
        (``invalid_sender``, ``invalid_header``) before any call for a
        sender ``sender_check`` or a header ``header_check`` refuses,
        whichever the provider; ``NotProcessed`` (``subject_empty``, failed
        over) before any call for an empty subject this provider refuses."""
        sender_check(message)
        header_check(message)
        if self.subject_required and not message.subject.strip():
            # Accepted while no such account was enabled: another may take it.
            raise subject_missing()
        return self.deliver(message, pacing=pacing, max_wait=max_wait)

    @abstractmethod
    def deliver(
        self,
        message: OutboundEmail,
        *,
        pacing: bool,
        max_wait: float | None,
    ) -> SendResult:
        """The provider's own send, given a message ``sender_check`` passed."""

    @abstractmethod
    def parse_email_events(self, message: WebhookMessage) -> list[EmailEventRecord]:
        """The delivery events a verified webhook message carries, in order;
        [] for one that is not about delivery (a subscription confirmation)."""

    def sending_domains(self) -> frozenset[str]:
        """The domains this service sends from on the account, as configured
        (``sending_domains``, each by ``sending_domain_entry``); empty when
        not configured, and then no event is judged by its sender. Empty too
        when an entry is not a domain (saved before the form checked them):
        judging by a list we cannot read could ignore our own bounces."""
        if not any(f.name == "sending_domains" for f in self.settings_fields):
            return frozenset()
        entries = domain_entries(self.setting("sending_domains"))
        domains = frozenset(map(sending_domain_entry, entries))
        if "" in domains:
            logger.warning(
                "sending_domains has an entry that is not a domain; unused",
                extra={"account": self.account.slug},
            )
            return frozenset()
        return domains

    @classmethod
    def clean_setting(cls, name: str, value: Any) -> Any:
        """A setting as the account form is to store it; ValueError (shown
        on the field) when it is not valid. ``sending_domains``: domains in
        ASCII form (``sending_domains_clean``)."""
        if name == SENDING_DOMAINS_FIELD.name:
            return sending_domains_clean(value)
        return value

    def email_call(
        self,
        operation: str,
        call: Callable[[CallContext], T],
        *,
        pacing: bool = False,
        max_wait: float | None = None,
        idempotency_key: str | None = None,
        idempotent: bool = False,
    ) -> T:
        """One operation through the account's ProviderClient with the email
        outcome rules applied to whatever ``call`` raises. ``idempotent``
        stays False for a send: no email API replays one by key, so a send is
        never retried after an unknown outcome."""

        def attempt(ctx: CallContext) -> T:
            try:
                return call(ctx)
            except ProviderError as error:
                self._alert_setup(error)
                raise email_outcome(error) from None
            except Exception as exc:
                mapped = email_exception(exc)
                if mapped is None:
                    raise
                raise mapped from None

        return client_for(self.account).call(
            operation,
            attempt,
            idempotent=idempotent,
            idempotency_key=idempotency_key,
            pacing=pacing,
            max_wait=max_wait,
        )

    def _alert_setup(self, error: ProviderError) -> None:
        # Our own account setup, not the message: loud, rate-limited.
        reason = error.code
        if isinstance(error, UnsupportedSender):
            reason = "unsupported_sender"
        if reason not in SETUP_ALERTS:
            return
        if not _setup_alert_due(self.account.pk, reason):
            return
        logger.error(
            SETUP_ALERTS[reason],
            self.display_name,
            extra={"account": self.account.slug, "reason": reason},
        )
