"""Fraud screening: a payment's risk score, level and reasons, before any
gateway is called (rules and reason codes: docs/payments.md)."""

import ipaddress
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from payments.models import (
    AmountThreshold,
    BlocklistEntry,
    BlocklistKind,
    Payment,
    RiskLevel,
)

MAX_SCORE = 100


@dataclass(frozen=True)
class Screening:
    score: int
    level: RiskLevel
    reasons: list[str] = field(default_factory=list)


def payment_screen(
    *,
    amount: int,
    currency: str,
    customer_reference: str,
    customer_email: str,
    ip_address: str | None,
    billing_country: str,
    card_fingerprint: str,
    ip_country: str = "",
) -> Screening:
    """Score one payment about to be made; reads blocklists and recent payments."""
    ip = _parse_ip(ip_address)
    email = customer_email.strip().lower()
    reasons = [
        *_amount_reasons(amount=amount, currency=currency.strip().upper()),
        *_velocity_reasons(
            customer_reference=customer_reference.strip(), email=email, ip=ip
        ),
        *_blocklist_reasons(email=email, ip=ip, card=card_fingerprint.strip()),
        *_country_reasons(billing_country=billing_country, ip_country=ip_country),
    ]
    score = score_for(reasons)
    return Screening(score=score, level=level_for(score), reasons=reasons)


def score_for(reasons: list[str]) -> int:
    points = settings.FRAUD_RULE_SCORES
    return min(MAX_SCORE, sum(points.get(reason, 0) for reason in reasons))


def level_for(score: int) -> RiskLevel:
    if score >= settings.FRAUD_LEVEL_HIGH:
        return RiskLevel.HIGH
    if score >= settings.FRAUD_LEVEL_MEDIUM:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


def amount_threshold(currency: str) -> int | None:
    """The threshold in force for ``currency``: the admin's, else the settings'."""
    override = (
        AmountThreshold.objects.filter(currency=currency)
        .values_list("amount", flat=True)
        .first()
    )
    if override is not None:
        return override
    return settings.FRAUD_AMOUNT_THRESHOLDS.get(currency)


def _amount_reasons(*, amount: int, currency: str) -> list[str]:
    threshold = amount_threshold(currency)
    if threshold is not None and amount > threshold:
        return ["amount_over_threshold"]
    return []


def _velocity_reasons(
    *,
    customer_reference: str,
    email: str,
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
) -> list[str]:
    checks = {
        "velocity_customer": (
            Q(customer_reference=customer_reference) if customer_reference else None,
            settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER,
        ),
        "velocity_email": (
            Q(customer_email__iexact=email) if email else None,
            settings.FRAUD_VELOCITY_MAX_PER_EMAIL,
        ),
        "velocity_ip": (
            Q(ip_address=str(ip)) if ip is not None else None,
            settings.FRAUD_VELOCITY_MAX_PER_IP,
        ),
    }
    active = {code: q for code, (q, limit) in checks.items() if q is not None and limit}
    if not active:
        return []
    since = timezone.now() - timedelta(minutes=settings.FRAUD_VELOCITY_WINDOW_MINUTES)
    any_match = Q()
    for q in active.values():
        any_match |= q
    # One query: the OR narrows by index, each count filters its own identifier.
    counts = Payment.objects.filter(any_match, created_at__gte=since).aggregate(
        **{code: Count("pk", filter=q) for code, q in active.items()}
    )
    return [code for code in active if counts[code] >= checks[code][1]]


def _blocklist_reasons(
    *,
    email: str,
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
    card: str,
) -> list[str]:
    match = Q(pk__in=[])
    if email:
        domain = "@" + email.rpartition("@")[2]
        match |= Q(kind=BlocklistKind.EMAIL, value__in=[email, domain])
    if card:
        match |= Q(kind=BlocklistKind.CARD, value=card)
    if ip is not None:
        # Single addresses match exactly; ranges are few, so test them here.
        match |= Q(kind=BlocklistKind.IP, value=str(ip))
        match |= Q(kind=BlocklistKind.IP, value__contains="/")
    hits: set[str] = set()
    for kind, value in BlocklistEntry.objects.filter(match).values_list(
        "kind", "value"
    ):
        if kind == BlocklistKind.IP and not _ip_matches(ip, value):
            continue
        hits.add(kind)
    order = [
        (BlocklistKind.EMAIL, "blocklisted_email"),
        (BlocklistKind.IP, "blocklisted_ip"),
        (BlocklistKind.CARD, "blocklisted_card"),
    ]
    return [code for kind, code in order if kind in hits]


def _country_reasons(*, billing_country: str, ip_country: str) -> list[str]:
    billing, seen = billing_country.strip().upper(), ip_country.strip().upper()
    if billing and seen and billing != seen:
        return ["country_mismatch"]
    return []


def _parse_ip(
    value: str | None,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        # A malformed address is no evidence either way; the API validates it.
        return None
    # An IPv4 client seen through an IPv6 socket is still that IPv4 client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _ip_matches(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None, value: str
) -> bool:
    if ip is None:
        return False
    try:
        return ip in ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
