"""What every adapter has in common, whatever its kind.

An adapter only translates between our dataclasses and one provider's wire
format. It never retries, sleeps, logs credentials or opens its own session:
outbound calls go through the account's shared ProviderClient.
"""

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from django.conf import settings

from integrations import money
from integrations.client.redirects import SAME_ORIGIN
from integrations.errors import (
    ConfigurationError,
    ProviderError,
    Rejected,
    UnusableAmount,
)
from integrations.webhooks.messages import (
    WebhookMessage,
    required_header,
    utf8_text,
)
from integrations.webhooks.signing import check_tolerance
from integrations.webhooks.verification import (
    WebhookVerificationError,
    unusable_body,
)

__all__ = [
    "BaseAdapter",
    "ConfigField",
    "HealthResult",
    "SignedRequest",
    "WebhookMessage",
    "match_event_type",
]

if TYPE_CHECKING:
    from integrations.models import ProviderAccount

logger = logging.getLogger(__name__)
T = TypeVar("T")

FieldType = Literal["str", "int", "float", "bool", "url", "choice", "text"]


@dataclass(frozen=True)
class ConfigField:
    """A credential or setting an adapter needs; the admin form is built from it."""

    name: str
    label: str
    type: FieldType = "str"
    required: bool = True
    help_text: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    default: Any = None
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True)
class HealthResult:
    ok: bool
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def match_event_type(table: Mapping[str, str], event_type: str) -> str | None:
    """The entry for ``event_type``: exact key, else longest ``prefix.*``, else
    ``*``."""
    if event_type in table:
        return table[event_type]
    prefixes = [
        key for key in table if key.endswith(".*") and event_type.startswith(key[:-1])
    ]
    if prefixes:
        return table[max(prefixes, key=len)]
    return table.get("*")


@dataclass(frozen=True)
class SignedRequest:
    """A webhook request as the verification template hands it to an adapter:
    the raw bytes, the headers (case-insensitive), the URL posted to (only for
    providers that sign it), the account's secret and the signature header's
    value ("" when the signature travels in the body)."""

    body: bytes
    headers: Mapping[str, str]
    url: str
    secret: str
    signature: str


class BaseAdapter(ABC):
    """The workflow every adapter shares: credentials by name, money at the
    boundary, "not found" look-ups and webhook verification as a template.
    Transport lives in the two bases below it (``providers.http`` for JSON
    over HTTP, ``providers.sdk`` for official SDKs); docs/adding-a-provider.md
    walks through a new adapter."""

    kind: ClassVar[str]
    code: ClassVar[str]
    display_name: ClassVar[str]
    # Secrets: encrypted at rest, write-only in the admin.
    credential_fields: ClassVar[tuple[ConfigField, ...]] = ()
    # Non-secret settings, stored in ProviderAccount.settings.
    settings_fields: ClassVar[tuple[ConfigField, ...]] = ()

    @classmethod
    def credential_errors(cls, credentials: Mapping[str, Any]) -> dict[str, str]:
        """What is wrong with a whole set of credentials (credential name ->
        message), for a provider whose fields only work together; the account
        form shows each on its field. ``credentials``: the stored ones with
        the form's new values over them."""
        return {}

    @classmethod
    def clean_setting(cls, name: str, value: Any) -> Any:
        """A setting's value as the account form is to store it; ValueError,
        whose text the form shows on the field, when it is not valid."""
        return value

    # Where the provider's minor unit differs from ISO 4217 (Stripe: ISK 2),
    # and amounts it takes only in multiples of a step (Stripe: KWD in 10s).
    currency_exponents: ClassVar[Mapping[str, int]] = {}
    amount_steps: ClassVar[Mapping[str, int]] = {}
    # Webhooks: the credential (or setting) holding the signing secret ("":
    # the provider sends none) and the header carrying the signature ("": it
    # travels in the body).
    webhook_signing_credential: ClassVar[str] = ""
    webhook_signature_header: ClassVar[str] = ""
    # True when the signature covers the URL posted to (Square): only then
    # does the intake work out ``url`` for verify_webhook.
    webhook_signs_url: ClassVar[bool] = False
    # True when the signature covers the raw body bytes (Stripe, Square,
    # SendGrid, TradeGecko, Standard Webhooks): only then may a body be read
    # that is not JSON in UTF-8 (a BOM, UTF-16), as the signer sent exactly
    # it. Otherwise (a token, a password, fields read out of the body, a
    # provider asked) such a body is refused before the check.
    webhook_signs_body: ClassVar[bool] = False
    # What such a body should be, in the refusal's text (Braintree: a form).
    webhook_body_format: ClassVar[str] = "JSON in UTF-8"
    # This provider's own defaults for the per-account limits
    # (integrations.limits keys, e.g. {"max_concurrency": 5}); an account's
    # setting wins over them, they win over the Django settings.
    default_limits: ClassVar[Mapping[str, float]] = {}
    # A redirect off the origin is refused: a 307/308 would re-send the body
    # there. FOLLOW only where the provider documents such a redirect.
    redirects: ClassVar[str] = SAME_ORIGIN

    def __init__(self, account: "ProviderAccount") -> None:
        self.account = account

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.account.slug}>"

    @property
    def credentials(self) -> dict[str, Any]:
        return self.account.get_credentials()

    def credential(self, name: str) -> str:
        """A required credential; ``missing_credentials`` (nothing sent) when
        it is not set. The message names the field, never a value."""
        value = self.credentials.get(name)
        if value in (None, ""):
            raise ConfigurationError(
                f"{self.display_name} credential {name!r} is not set",
                code="missing_credentials",
            )
        return str(value)

    def setting(self, name: str) -> Any:
        value = self.account.settings.get(name)
        if value in (None, ""):
            spec = next((f for f in self.settings_fields if f.name == name), None)
            return spec.default if spec else None
        return value

    @abstractmethod
    def health_check(self) -> HealthResult:
        """A cheap authenticated call that proves the account works."""

    # --- Money at the boundary ------------------------------------------------

    def to_provider_minor(self, amount: int, currency: str) -> int:
        """Our amount as the provider's integer; refused before any call
        (``Rejected`` ``invalid_amount``) if it cannot be sent exactly."""
        try:
            return money.to_wire_minor(
                amount,
                currency,
                exponents=self.currency_exponents,
                steps=self.amount_steps,
            )
        except money.MoneyError as exc:
            raise Rejected(str(exc), code="invalid_amount") from None

    def to_provider_decimal(self, amount: int, currency: str) -> str:
        """Our amount as the provider's decimal string (``"10.50"``)."""
        try:
            return money.to_wire_decimal(
                amount, currency, exponents=self.currency_exponents
            )
        except money.MoneyError as exc:
            raise Rejected(str(exc), code="invalid_amount") from None

    def from_provider_minor(self, value: object, currency: str) -> int | None:
        """The provider's integer amount as ours; None when it sent none.
        ``UnusableAmount`` (``unknown``, ``malformed_response``) when it
        cannot be read exactly or is beyond ``money.max_amount``."""
        if value is None or not isinstance(value, int) or isinstance(value, bool):
            return None
        return _read_amount(
            lambda: money.from_wire_minor(
                value, currency, exponents=self.currency_exponents
            ),
            currency,
        )

    def from_provider_decimal(self, value: object, currency: str) -> int | None:
        """The provider's decimal amount (string or Decimal) as ours; None
        when it sent none. Refused as ``from_provider_minor`` refuses."""
        if value is None or value == "":
            return None
        if isinstance(value, float):
            # A JSON number: its shortest repr is the text the provider sent,
            # written out without an exponent; never used as a float.
            value = format(Decimal(repr(value)), "f")
        return _read_amount(
            lambda: money.from_wire_decimal(
                str(value), currency, exponents=self.currency_exponents
            ),
            currency,
        )

    # --- Look-ups --------------------------------------------------------------

    @staticmethod
    def none_if_not_found(look_up: Callable[[], T]) -> T | None:
        """``look_up()``, or None when the provider answered that it has no
        such object (``Rejected`` ``not_found``); other errors propagate."""
        try:
            return look_up()
        except Rejected as error:
            if error.code == "not_found" or error.http_status == 404:
                return None
            raise

    # --- Webhooks: the workflow; adapters supply the check and the mapping --

    def verify_webhook(
        self, *, body: bytes, headers: Mapping[str, str], url: str
    ) -> WebhookMessage:
        """Verify a webhook request on its raw bytes and translate it: the
        secret must be configured (never a pass without one), the signature
        header present, then ``check_webhook_signature`` (constant-time; the
        timestamp tolerance where the scheme signs one) and
        ``webhook_message``, the body's encoding checked between them
        (``check_webhook_encoding``). ``url`` is the absolute URL posted to if
        ``webhook_signs_url``, else "". Anything forged, stale or malformed
        raises WebhookVerificationError; so does any other exception a
        provider's parser raises on a hostile body. Once the check has
        passed, a body ``webhook_message`` cannot read raises UnusableWebhook
        (the intake stores it dead): a check must leave to it whatever
        reading the signature does not need."""
        if not self.webhook_signing_credential:
            raise WebhookVerificationError(
                f"{self.display_name} accounts do not accept webhooks.",
                code=WebhookVerificationError.NOT_SUPPORTED,
            )
        request = SignedRequest(
            body=body,
            headers=headers,
            url=url,
            secret=self.webhook_secret(),
            signature=required_header(headers, self.webhook_signature_header)
            if self.webhook_signature_header
            else "",
        )
        verified = self._checked_signature(request)
        self.check_webhook_encoding(body)
        # Signed from here on: a body we cannot read is stored, not refused.
        with unusable_body(self.webhook_what, account=self.account.slug):
            return self.webhook_message(request, verified)

    def check_webhook_encoding(self, body: bytes) -> None:
        """Refuse (400 ``malformed_request``) a body not in
        ``webhook_body_format`` where the signature does not cover its raw
        bytes: read as anything else, it could say other than what was
        verified. Only once the signature has passed (a forged body is
        refused as forged, whatever its encoding), before anything reads it:
        a check that reads further itself (Mailgun's token store, PayPal's
        event, Braintree's SDK) calls this first."""
        if not self.webhook_signs_body:
            utf8_text(body, what=f"{self.webhook_what} ({self.webhook_body_format})")

    @property
    def webhook_what(self) -> str:
        """The event a webhook body should be, for an error's text."""
        return f"a {self.display_name} event"

    def _checked_signature(self, request: SignedRequest) -> Any:
        try:
            return self.check_webhook_signature(request)
        except (WebhookVerificationError, ProviderError):
            raise
        except Exception:
            logger.warning(
                "webhook parser failed",
                extra={"account": self.account.slug},
                exc_info=True,
            )
            raise WebhookVerificationError(
                f"The webhook body is not {self.webhook_what}.",
                code=WebhookVerificationError.MALFORMED,
            ) from None

    def webhook_secret(self) -> str:
        """The signing secret named by ``webhook_signing_credential`` (a credential,
        else a setting); ``webhook_secret_missing`` when unset."""
        name = self.webhook_signing_credential
        value = self.credentials.get(name) or self.setting(name)
        if not value:
            raise WebhookVerificationError(
                "No webhook signing secret is configured for this account.",
                code=WebhookVerificationError.MISSING_SECRET,
            )
        return str(value)

    def check_webhook_signature(self, request: SignedRequest) -> Any:
        """Raise WebhookVerificationError unless ``request`` is signed by the
        provider (compare with ``integrations.webhooks.signing``); return
        whatever the check already parsed, handed to ``webhook_message``."""
        raise NotImplementedError

    def webhook_message(self, request: SignedRequest, verified: Any) -> WebhookMessage:
        """The verified request as a message: event type, dedupe key (the
        provider's event id), payload, time."""
        raise NotImplementedError

    def check_webhook_time(self, sent_at: float, *, param: str) -> None:
        """Refuse a signed time outside ``WEBHOOK_TOLERANCE_SECONDS``."""
        check_tolerance(
            sent_at, tolerance=settings.WEBHOOK_TOLERANCE_SECONDS, param=param
        )

    def webhook_messages(
        self, *, body: bytes, headers: Mapping[str, str], url: str
    ) -> list[WebhookMessage]:
        """Every message one verified request carries, in order (SendGrid posts
        an array of events). The intake stores them all or none and answers
        once: ``webhook_split`` of what ``verify_webhook`` returns."""
        return self.webhook_split(
            self.verify_webhook(body=body, headers=headers, url=url)
        )

    def webhook_split(self, message: WebhookMessage) -> list[WebhookMessage]:
        """The messages one read request carries. Default: itself."""
        return [message]

    def webhook_stored_messages(
        self, *, body: bytes, headers: Mapping[str, str]
    ) -> list[WebhookMessage]:
        """A stored body that passed verification at intake, read again for
        staff (webhooks.recovery) as intake reads it, minus the signature
        check: it passed, and the bytes are ours. UnusableWebhook when it
        still cannot be read; StoredBodyNotReadable when the stored headers
        lack what the reading needs."""
        request = SignedRequest(
            body=body, headers=headers, url="", secret="", signature=""
        )
        with unusable_body(self.webhook_what, account=self.account.slug):
            verified = self.webhook_stored_verified(request)
            message = self.webhook_message(request, verified)
        return self.webhook_split(message)

    def webhook_stored_verified(self, request: SignedRequest) -> Any:
        """What ``check_webhook_signature`` hands ``webhook_message``, read
        from a stored request without checking it. Default None: an adapter
        whose check returns what it parsed overrides this."""
        return None

    def webhook_handler(self, message_event_type: str) -> str | None:
        """Dotted path of the domain handler for an event type, or None.

        The handler takes the stored WebhookEvent. Looked up in settings
        ``SWITCHYARD_WEBHOOK_HANDLERS[kind]``; adapters may override.
        """
        handlers = getattr(settings, "SWITCHYARD_WEBHOOK_HANDLERS", {})
        return match_event_type(handlers.get(self.kind, {}), message_event_type)


def _read_amount(convert: Callable[[], int], currency: str) -> int:
    # An amount we cannot represent exactly, or larger than the currency
    # allows, is a malformed answer: the request may have been acted on, so
    # it is never read as "nothing happened".
    try:
        return money.check_limit(convert(), currency)
    except money.MoneyError:
        raise UnusableAmount("provider sent an amount that cannot be read") from None
