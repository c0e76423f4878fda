"""What every adapter has in common, whatever its kind.

An adapter only translates between our dataclasses and one provider's wire
format. It never retries, sleeps, logs credentials or opens its own session:
outbound calls go through the account's shared ProviderClient.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

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


class BaseAdapter(ABC):
    kind: ClassVar[str]
    code: ClassVar[str]
    display_name: ClassVar[str]
    # Secrets: encrypted at rest, write-only in the admin.
    credential_fields: ClassVar[tuple[ConfigField, ...]] = ()
    # Non-secret settings, stored in ProviderAccount.settings.
    settings_fields: ClassVar[tuple[ConfigField, ...]] = ()

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
