"""Adapter registry: kind -> provider code -> dotted path, from settings.

Nothing registers itself at import time; a bad path fails with a clear error
when that provider is first resolved.
"""

from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from integrations.crypto import CredentialsDecryptError

if TYPE_CHECKING:
    from integrations.models import ProviderAccount
    from integrations.providers.base import BaseAdapter


class UnknownProvider(LookupError):
    """No adapter is configured for this kind and provider code."""


# What building an account's adapter raises when this deploy cannot call it:
# a provider dropped from the adapters, a bad configuration, credentials no
# key opens. A fault of that account's work alone, never of a whole sweep.
ACCOUNT_UNCALLABLE: tuple[type[Exception], ...] = (
    UnknownProvider,
    ImproperlyConfigured,
    CredentialsDecryptError,
)


def kinds() -> list[str]:
    return list(settings.SWITCHYARD_ADAPTERS)


def provider_codes(kind: str) -> list[str]:
    return sorted(settings.SWITCHYARD_ADAPTERS.get(kind, {}))


def provider_choices() -> list[tuple[str, str]]:
    codes = {c for k in kinds() for c in provider_codes(k)}
    return [(c, c) for c in sorted(codes)]


@cache
def _load(path: str) -> type["BaseAdapter"]:
    from integrations.providers.base import BaseAdapter

    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"SWITCHYARD_ADAPTERS: cannot import adapter {path!r}: {exc}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, BaseAdapter)):
        raise ImproperlyConfigured(
            f"SWITCHYARD_ADAPTERS: {path!r} is not a BaseAdapter subclass"
        )
    return cls


def get_adapter_class(kind: str, provider: str) -> type["BaseAdapter"]:
    try:
        path = settings.SWITCHYARD_ADAPTERS[kind][provider]
    except KeyError:
        raise UnknownProvider(
            f"no {kind!r} adapter is configured for provider {provider!r}"
        ) from None
    cls = _load(path)
    if cls.kind != kind:
        raise ImproperlyConfigured(
            f"SWITCHYARD_ADAPTERS: {path!r} is a {cls.kind!r} adapter, "
            f"listed under {kind!r}"
        )
    return cls


def get_adapter(account: "ProviderAccount") -> "BaseAdapter":
    return get_adapter_class(account.kind, account.provider)(account)


def clear_cache() -> None:
    _load.cache_clear()
