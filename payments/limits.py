"""Provider limits checked at our API, not found out at the provider: the
storefront's metadata against the strictest limits of the gateways, counting
the keys their adapters add, and source tokens against the formats the
gateways document."""

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings

from integrations import registry
from integrations.models import ProviderAccount
from payments.models import SavedPaymentMethod
from payments.providers.base import MetadataLimits, PaymentsAdapter

KIND = "payments"

# Keys a payment's metadata holds for the service itself (the recurring
# run's): a storefront's own would bring its payment under their rules.
SERVICE_KEYS = frozenset({"recurring_charge", "recurring_slot"})


Adapters = Mapping[str, type[PaymentsAdapter]]


def adapter_classes(providers: Iterable[str]) -> dict[str, type[PaymentsAdapter]]:
    """Each of ``providers`` with its payments adapter class (one without a
    configured adapter left out): looked up once for the checks below."""
    classes = {}
    for provider in providers:
        try:
            cls = registry.get_adapter_class(KIND, provider)
        except registry.UnknownProvider:
            continue
        if issubclass(cls, PaymentsAdapter):
            classes[provider] = cls
    return classes


def _strictest(classes: Iterable[type[PaymentsAdapter]]) -> MetadataLimits | None:
    limits = [c.metadata_limits for c in classes if c.metadata_limits is not None]
    if not limits:
        return None
    reserved = frozenset().union(*(limit.reserved_keys for limit in limits))
    return MetadataLimits(
        # Every key of ours and every key the adapter adds must fit.
        max_keys=min(limit.max_keys - len(limit.reserved_keys) for limit in limits),
        max_key_length=min(limit.max_key_length for limit in limits),
        max_value_length=min(limit.max_value_length for limit in limits),
        forbidden_key_characters="".join(
            sorted({c for limit in limits for c in limit.forbidden_key_characters})
        ),
        reserved_keys=reserved,
    )


def registered_limits() -> MetadataLimits | None:
    """The strictest limits of every registered gateway (the schema's)."""
    providers = getattr(settings, "SWITCHYARD_ADAPTERS", {}).get(KIND, {})
    return _strictest(adapter_classes(providers).values())


def limits_of(classes: Adapters) -> MetadataLimits | None:
    """The strictest limits of ``classes`` (``adapter_classes`` of
    ``enabled_providers()``)."""
    return _strictest(classes.values())


def enabled_providers() -> set[str]:
    """The providers of the enabled payments accounts (one query)."""
    return set(
        ProviderAccount.objects.filter(kind=KIND, enabled=True).values_list(
            "provider", flat=True
        )
    )


def reserved_key(metadata: Mapping[str, Any]) -> str | None:
    """The first key of ``metadata`` the service keeps for itself, or None."""
    return next((key for key in metadata if key in SERVICE_KEYS), None)


def metadata_problem(
    metadata: Mapping[str, Any], limits: MetadataLimits | None
) -> tuple[str, str] | None:
    """``(param, message)`` of the first rule ``metadata`` breaks, or None."""
    if limits is None:
        return None
    if len(metadata) > limits.max_keys:
        return "metadata", f"At most {limits.max_keys} keys."
    for key, value in metadata.items():
        if key in limits.reserved_keys:
            return f"metadata.{key}", "This key is reserved by the gateway adapter."
        if len(key) > limits.max_key_length:
            return "metadata", f"Keys have at most {limits.max_key_length} characters."
        if any(c in limits.forbidden_key_characters for c in key):
            return "metadata", (
                f"Keys may not contain {limits.forbidden_key_characters!r}."
            )
        if len(str(value)) > limits.max_value_length:
            return f"metadata.{key}", (
                f"Values have at most {limits.max_value_length} characters."
            )
    return None


def metadata_schema(limits: MetadataLimits | None) -> dict[str, Any]:
    """The OpenAPI schema of ``metadata`` under ``limits``."""
    schema: dict[str, Any] = {"type": "object"}
    if limits is None:
        schema["additionalProperties"] = {"type": "string"}
        schema["description"] = f"Reserved keys: {', '.join(sorted(SERVICE_KEYS))}."
        return schema
    forbidden = limits.forbidden_key_characters
    reserved = ", ".join(sorted(limits.reserved_keys | SERVICE_KEYS))
    # OpenAPI 3.0 has no keyword for key rules: a description, and the JSON
    # Schema ``propertyNames`` as an extension for generators that read it.
    names: dict[str, Any] = {"maxLength": limits.max_key_length}
    if forbidden:
        names["pattern"] = f"^[^{re.escape(forbidden)}]*$"
    schema.update(
        maxProperties=limits.max_keys,
        additionalProperties={"type": "string", "maxLength": limits.max_value_length},
        description=f"At most {limits.max_keys} string keys of at most "
        f"{limits.max_key_length} characters"
        + (f" without {' or '.join(forbidden)}" if forbidden else "")
        + f", values of at most {limits.max_value_length}: the strictest limits "
        f"of the gateways, counting the keys the adapters add. Reserved keys: "
        f"{reserved}.",
    )
    schema["x-propertyNames"] = names
    return schema


def source_accepted(source_token: str, classes: Adapters) -> bool:
    """True if a gateway among ``classes`` could take ``source_token``."""
    for cls in classes.values():
        if not cls.source_format or re.fullmatch(cls.source_format, source_token):
            return True
    return False


def saved_method_id(source_token: str, classes: Adapters) -> bool:
    """True if ``source_token`` is a saved payment method's id at a gateway
    among ``classes`` (``saved_method_format``): one no one-time token
    resembles, or one we store, whoever's it is (one query, only for a token
    of a form one-time tokens share). The gateway would refuse it without
    its customer; the answer must not tell whose it is."""
    shared = []
    for provider, cls in classes.items():
        form = cls.saved_method_format
        if not form or not re.fullmatch(form, source_token):
            continue
        only = cls.saved_method_only_format
        if cls.saved_method_only or (only and re.fullmatch(only, source_token)):
            return True
        shared.append(provider)
    if not shared:
        return False
    accounts = ProviderAccount.objects.filter(kind=KIND, provider__in=shared)
    return SavedPaymentMethod.objects.filter(
        account__in=accounts, provider_method_id=source_token
    ).exists()
