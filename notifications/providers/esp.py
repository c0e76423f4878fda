"""Email service providers through django-anymail.

One factory (``build_anymail_backend``) builds an anymail backend at run time
from what the account's adapter passes it: every option anymail would
otherwise read from Django settings is passed explicitly, so an ``ANYMAIL``
setting can neither supply a credential, redirect a request nor switch on
anymail's request dumps (which print bodies and credentials). Requests-based
backends send on the account's ProviderClient session (correlation id,
deadline-clamped timeouts, each attempt counted); SES is boto3 underneath and
gets a client of its own (``amazon_ses``).

``AnymailAdapter`` owns the workflow: our ``OutboundEmail`` becomes an
``AnymailMessage``, one send runs as one client operation under the email
outcome rules, and anymail's errors are unwrapped and classified.
"""

import logging
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import requests
from anymail.backends.base import AnymailBaseBackend
from anymail.exceptions import (
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailSerializationError,
    AnymailUnsupportedFeature,
)
from anymail.message import AnymailMessage, AnymailStatus
from django.conf import settings
from django.utils.module_loading import import_string

from integrations.client import CallContext, client_for
from integrations.client.store import AccountStore
from integrations.errors import ProviderError, Unknown
from integrations.providers.base import ConfigField, HealthResult
from integrations.webhooks.signing import check_tolerance
from integrations.webhooks.verification import webhook_now
from notifications.providers.base import (
    MESSAGE_ID_HEADER,
    EmailAdapter,
    OutboundEmail,
    SendResult,
    SendStatus,
    email_error_map,
    email_exception,
    idn_ascii,
    recipient_refused,
)
from notifications.providers.outcomes import unsupported_message

logger = logging.getLogger(__name__)

# For providers that sign a time: an account may widen the window when its
# provider resends old signatures after an outage.
TOLERANCE_FIELD = ConfigField(
    "webhook_tolerance_seconds",
    "Webhook time tolerance (seconds)",
    type="int",
    required=False,
    min_value=60,
    help_text="How far a webhook's signed time may be from ours; empty: "
    "WEBHOOK_TOLERANCE_SECONDS.",
)


def _wire_domain(domain: str) -> str:
    """Anymail's IDNA encoder: ours, so a domain goes out in the form our
    suppressions key it by (an emoji domain by IDNA 2003, which anymail's
    "idna2008" refuses). ValueError is what anymail reads as unencodable."""
    encoded = idn_ascii(domain)
    if not encoded:
        raise ValueError("no IDNA form")
    return encoded


# Options every anymail backend reads from Django settings unless given.
_COMMON_OPTIONS: Mapping[str, Any] = {
    "fail_silently": False,
    "ignore_unsupported_features": False,
    # All-recipients-refused must raise: it is our invalid_recipient.
    "ignore_recipient_status": False,
    # Anymail's debug dump prints request bodies and auth headers.
    "debug_api_requests": False,
    "idna_encoder": _wire_domain,
    "send_defaults": {},
}


def build_anymail_backend(
    backend_path: str,
    options: Mapping[str, Any],
    *,
    session: requests.Session | None = None,
) -> AnymailBaseBackend:
    """An anymail backend built from ``options`` alone (credentials by the
    adapter, never Django settings), sending on ``session`` when it is a
    requests-based backend. Its ``open()`` then finds the session in place
    and never closes it: the session is the account's, shared."""
    backend_class = import_string(backend_path)
    backend = backend_class(**{**_COMMON_OPTIONS, **options})
    # Anymail merges ANYMAIL["SEND_DEFAULTS"] from settings whatever it is
    # passed: cleared, so only the account decides what a message carries.
    backend.send_defaults = {}
    if session is not None:
        backend.session = session
    return backend


# (account pk, backend path, thread): each thread its own backend. Kept in a
# client store, so an account disabled or deleted (or idle) drops them with
# its client instead of holding its closed session for the thread's life.
HeldKey = tuple[int, str, int]
Held = tuple[dict[str, Any], requests.Session, AnymailBaseBackend]


def _account_of(key: HeldKey) -> int:
    return key[0]


def _forget(held: Held) -> None:
    """Nothing to close: the session is the account's client's, closed by
    that client's store (and another thread may still send on it)."""


_store: AccountStore[HeldKey, Held] = AccountStore(_forget, pk_of=_account_of)


def anymail_message(
    message: OutboundEmail,
    *,
    max_tags: int | None,
    esp_extra: Mapping[str, Any] | None = None,
) -> AnymailMessage:
    """Our message as anymail sends it: our id as a header and in the
    metadata, so every provider's events can name it."""
    email = AnymailMessage(
        subject=message.subject,
        body=message.text,
        from_email=message.from_email,
        to=[message.to],
        reply_to=[message.reply_to] if message.reply_to else None,
        headers={**message.headers, MESSAGE_ID_HEADER: message.message_id},
        tags=list(message.tags[:max_tags] if max_tags is not None else message.tags),
        metadata=message.provider_metadata(),
    )
    if message.html:
        email.attach_alternative(message.html, "text/html")
    if esp_extra:
        email.esp_extra = dict(esp_extra)
    return email


def wire_address(address: str, backend: AnymailBaseBackend) -> str:
    """``address`` with its domain IDNA-encoded as ``backend`` sends it.

    Anymail encodes a Unicode domain on the way out but keys each recipient's
    status by the address it was given, while SendGrid's generated id (and
    Postmark's answer) name the encoded one: given the encoded address, the
    send's id is found. AnymailInvalidAddress when the domain cannot be
    encoded, as anymail would raise."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    return f"{local}@{backend.idna_encode(domain)}"


def refused_recipient(
    message: str, *, provider_code: str = "", http_status: int | None = None
) -> ProviderError:
    """``recipient_refused`` carrying the provider's HTTP status."""
    error = recipient_refused(message, provider_code=provider_code)
    error.http_status = http_status
    return error


def send_result(status: AnymailStatus) -> SendResult:
    """What anymail reports for a one-recipient send."""
    message_id = status.message_id
    response = status.esp_response
    if not message_id and isinstance(response, requests.Response):
        # Refused in a body anymail read as "unknown" status (Postmark 422
        # naming another address): the answer's status says what happened.
        refused = email_error_map(response)
        if refused is not None:
            raise refused
    if not message_id or not isinstance(message_id, str):
        raise Unknown(
            "provider answered without a message id", code="malformed_response"
        )
    statuses = status.status or set()
    return SendResult(
        provider_message_id=message_id.strip("<>"),
        status=SendStatus.QUEUED if "queued" in statuses else SendStatus.ACCEPTED,
        raw_status=",".join(sorted(statuses)),
    )


class AnymailAdapter(EmailAdapter):
    """An email provider through one anymail backend. A provider declares
    ``backend_path``, ``api_urls`` and ``backend_options``; optionally its
    body table ``provider_error`` and ``max_tags``."""

    backend_path: ClassVar[str]
    # {"test": ..., "live": ...}: class attributes, never account settings, so
    # a credential only ever goes to the provider. Tests point them at
    # 127.0.0.1.
    api_urls: ClassVar[Mapping[str, str]] = {}
    # Tags the provider takes per message (Postmark: one); None: any.
    max_tags: ClassVar[int | None] = None
    # True when the backend's HTTP bypasses the client's session (boto3), so
    # the adapter counts each attempt and its status itself.
    counts_own_attempts: ClassVar[bool] = False

    @property
    def api_url(self) -> str:
        return self.api_urls["live" if self.account.mode == "live" else "test"]

    def backend_options(self) -> dict[str, Any]:
        """The backend's options from the account: credentials by name,
        ``api_url``, the provider's own settings."""
        raise NotImplementedError

    def esp_extra(self, message: OutboundEmail) -> dict[str, Any]:
        """Provider fields for this message (anymail's ``esp_extra``)."""
        return {}

    def build_backend(self) -> AnymailBaseBackend:
        """The account's backend on its client's session, kept per thread
        while options and session stay the same: anymail reads a dozen
        settings to build one, a tenth of a bulk message's work."""
        session = client_for(self.account).session
        options = self.backend_options()
        key = (self.account.pk, self.backend_path, threading.get_ident())
        with _store.lock:
            kept = _store.entries.get(key)
            if kept is not None and kept[0] == options and kept[1] is session:
                _store.used(key)
                return kept[2]
        backend = build_anymail_backend(self.backend_path, options, session=session)
        with _store.lock:
            # Not ``put``: that drops the account's other threads' backends.
            _store.entries[key] = (options, session, backend)
            _store.used(key)
        return backend

    def deliver(
        self,
        message: OutboundEmail,
        *,
        pacing: bool = False,
        max_wait: float | None = None,
    ) -> SendResult:
        email = anymail_message(
            message, max_tags=self.max_tags, esp_extra=self.esp_extra(message)
        )

        def attempt(ctx: CallContext) -> SendResult:
            backend = self.build_backend()
            if self.counts_own_attempts:
                ctx.attempts += 1
            try:
                email.to = [wire_address(message.to, backend)]
                backend.send_messages([email])
            except AnymailError as exc:
                raise self.classify(exc) from None
            except Exception as exc:
                mapped = self.send_error(exc)
                if mapped is None:
                    raise
                raise mapped from None
            if self.counts_own_attempts:
                ctx.http_status = 200
            return send_result(email.anymail_status)

        return self.email_call("send_email", attempt, pacing=pacing, max_wait=max_wait)

    def classify(self, exc: AnymailError) -> ProviderError:
        """Our error for what anymail raised: refused recipients first, then
        the provider's table, then the email rules on the unwrapped cause."""
        if isinstance(exc, AnymailRecipientsRefused | AnymailInvalidAddress):
            return self.recipient_error(exc)
        mapped = self.provider_error(exc) or email_exception(exc)
        if mapped is not None:
            return mapped
        if isinstance(exc, AnymailUnsupportedFeature | AnymailSerializationError):
            # Refused while building, before any call: another provider may
            # take it, and retrying this one cannot help.
            return unsupported_message(
                "the message cannot be sent through this provider"
            )
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        logger.warning(
            "email provider answer not understood",
            extra={"account": self.account.slug, "http_status": status},
        )
        return Unknown(
            "the provider's answer could not be read",
            code="malformed_response",
            http_status=status,
        )

    def recipient_error(self, exc: AnymailError) -> ProviderError:
        """Our error for every recipient refused: ``invalid_recipient``; a
        provider whose answer says the address is on its own suppression
        list returns ``RecipientStopped``."""
        response = getattr(exc, "response", None)
        return refused_recipient(
            "the provider refused the recipient",
            http_status=getattr(response, "status_code", None),
        )

    def send_error(self, exc: Exception) -> ProviderError | None:
        """Our error for a non-anymail exception from the backend; None
        leaves it to the email rules (``email_exception``)."""
        return None

    def provider_error(self, exc: AnymailError) -> ProviderError | None:
        """The provider's own table (error bodies, SDK error codes); None
        leaves ``exc`` to the email rules."""
        return None

    def webhook_tolerance(self) -> float:
        """Seconds a signed webhook time may differ from ours."""
        value = self.setting(TOLERANCE_FIELD.name)
        return float(value or settings.WEBHOOK_TOLERANCE_SECONDS)

    def check_webhook_time(
        self, sent_at: float, *, param: str, replay_store: bool = False
    ) -> None:
        # replay_store: tokens kept in the cache, by its clock even without Redis.
        now = webhook_now(database=replay_store)
        check_tolerance(
            sent_at, tolerance=self.webhook_tolerance(), param=param, now=now
        )

    # --- Health --------------------------------------------------------------

    def health_get(self, url: str, **kwargs: Any) -> requests.Response:
        """A cheap authenticated GET of ``url`` as one operation."""

        def attempt(ctx: CallContext) -> requests.Response:
            session = client_for(self.account).session
            response = session.get(url, **kwargs)
            error = email_error_map(response)
            if error is not None:
                raise error
            return response

        return self.email_call("health_check", attempt, idempotent=True)

    def health_check(self) -> HealthResult:
        raise NotImplementedError
