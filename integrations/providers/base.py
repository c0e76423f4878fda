"""What every adapter has in common, whatever its kind.

An adapter only translates between our dataclasses and one provider's wire
format. It never retries, sleeps, logs credentials or opens its own session:
outbound calls go through the account's shared ProviderClient.
"""

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from django.conf import settings

from integrations.webhooks.messages import WebhookMessage
from integrations.webhooks.verification import WebhookVerificationError

__all__ = [
    "BaseAdapter",
    "ConfigField",
    "HealthResult",
    "WebhookMessage",
    "match_event_type",
]

if TYPE_CHECKING:
    from integrations.models import ProviderAccount

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


class BaseAdapter(ABC):
    kind: ClassVar[str]
    code: ClassVar[str]
    display_name: ClassVar[str]
    # Secrets: encrypted at rest, write-only in the admin.
    credential_fields: ClassVar[tuple[ConfigField, ...]] = ()
    # Non-secret settings, stored in ProviderAccount.settings.
    settings_fields: ClassVar[tuple[ConfigField, ...]] = ()
    # This provider's own defaults for the per-account limits
    # (integrations.limits keys, e.g. {"max_concurrency": 5}); an account's
    # setting wins over them, they win over the Django settings.
    default_limits: ClassVar[Mapping[str, float]] = {}

    def __init__(self, account: "ProviderAccount") -> None:
        self.account = account

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.account.slug}>"

    @property
    def credentials(self) -> dict[str, Any]:
        return self.account.get_credentials()

    def setting(self, name: str) -> Any:
        value = self.account.settings.get(name)
        if value in (None, ""):
            spec = next((f for f in self.settings_fields if f.name == name), None)
            return spec.default if spec else None
        return value

    @abstractmethod
    def health_check(self) -> HealthResult:
        """A cheap authenticated call that proves the account works."""

    # True when the provider's webhook signature covers the URL it posted to
    # (Square): only then does the intake work out ``url`` for verify_webhook.
    webhook_signs_url: bool = False

    def verify_webhook(
        self, *, body: bytes, headers: Mapping[str, str], url: str
    ) -> WebhookMessage:
        """Verify a webhook request on its raw bytes and translate it.

        ``headers`` is case-insensitive when it comes from the intake view;
        ``url`` is the absolute URL posted to if ``webhook_signs_url``, else "".
        Raise WebhookVerificationError for anything forged, stale or malformed;
        a missing secret is an error, never a pass.
        """
        raise WebhookVerificationError(
            f"{self.display_name} accounts do not accept webhooks.",
            code=WebhookVerificationError.NOT_SUPPORTED,
        )

    def webhook_messages(
        self, *, body: bytes, headers: Mapping[str, str], url: str
    ) -> list[WebhookMessage]:
        """Every message one verified request carries, in order (SendGrid posts
        an array of events). The intake stores them all or none and answers
        once. Default: the one message ``verify_webhook`` returns."""
        return [self.verify_webhook(body=body, headers=headers, url=url)]

    def webhook_handler(self, message_event_type: str) -> str | None:
        """Dotted path of the domain handler for an event type, or None.

        The handler takes the stored WebhookEvent. Looked up in settings
        ``SWITCHYARD_WEBHOOK_HANDLERS[kind]``; adapters may override.
        """
        handlers = getattr(settings, "SWITCHYARD_WEBHOOK_HANDLERS", {})
        return match_event_type(handlers.get(self.kind, {}), message_event_type)
