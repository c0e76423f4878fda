"""Fraud screening: a payment's risk score, level and reasons, before any
gateway is called (rules and reason codes: docs/payments.md)."""

import functools
import hashlib
import ipaddress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connections, router
from django.utils import timezone

from integrations.commits import connection_for
from integrations.db import execute_rows
from payments.models import (
    AmountThreshold,
    BlocklistEntry,
    BlocklistKind,
    Payment,
    RiskLevel,
    email_canonical,
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
    ahead: "Ahead | None" = None,
) -> Screening:
    """Score one payment about to be made; reads blocklists and recent
    payments. ``ahead``: what ``screening_ahead`` worked out for this
    request's body, used if it was for these very inputs."""
    key = (currency, customer_reference, customer_email, ip_address or "")
    if ahead is not None and ahead.key == (*key, card_fingerprint):
        seen, (using, sql, params), lock = ahead.seen, ahead.read, ahead.lock
    else:
        seen = _inputs(*key, card_fingerprint)
        # The three reads go out as one statement: a round trip and an ORM
        # compile apiece were a sixth of a payment's time. IP ranges are
        # few: all are read and tested here.
        using, sql, params = _screening_statement(seen)
        lock = _lock_statement(seen, using)
    _velocity_lock(lock, using)
    read = _read_rows(execute_rows(sql, params, using=using))
    reasons = [
        *_amount_reasons(amount=amount, currency=seen.iso, override=read.threshold),
        *[
            rule
            for rule, (_q, cap) in seen.velocity.items()
            if read.counts[rule] >= cap
        ],
        *_blocklist_reasons(ip=seen.ip, rows=read.blocked),
        *_country_reasons(billing_country=billing_country, ip_country=ip_country),
    ]
    score = score_for(reasons)
    return Screening(score=score, level=level_for(score), reasons=reasons)


def screening_statements(
    *,
    currency: str,
    customer_reference: str,
    customer_email: str,
    ip_address: str | None,
    card_fingerprint: str,
) -> list[tuple[str, list[Any]]]:
    """The (sql, params) ``payment_screen`` sends for these inputs, in order
    (the velocity lock if it takes one, then its read), to send them ahead
    (``integrations.db.reads_ahead``)."""
    return screening_ahead(
        currency=currency,
        customer_reference=customer_reference,
        customer_email=customer_email,
        ip_address=ip_address,
        card_fingerprint=card_fingerprint,
    ).statements


@dataclass(frozen=True)
class Ahead:
    """The screening's inputs and statements worked out for one request's
    body, when its reads are sent ahead, for its ``payment_screen`` to reuse
    (request-scoped: the rules' settings and the database are read once)."""

    key: tuple[str, str, str, str, str]
    seen: "_Inputs"
    read: tuple[str, str, list[Any]]  # database, SQL, params
    lock: tuple[str, list[Any]] | None

    @property
    def statements(self) -> list[tuple[str, list[Any]]]:
        _using, sql, params = self.read
        return [*([self.lock] if self.lock is not None else []), (sql, params)]


def screening_ahead(
    *,
    currency: str,
    customer_reference: str,
    customer_email: str,
    ip_address: str | None,
    card_fingerprint: str,
) -> Ahead:
    key = (
        currency,
        customer_reference,
        customer_email,
        ip_address or "",
        card_fingerprint,
    )
    seen = _inputs(*key)
    read = _screening_statement(seen)
    return Ahead(key, seen, read, _lock_statement(seen, read[0]))


@dataclass(frozen=True)
class _Inputs:
    iso: str
    email: str
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    velocity: "_Checks"
    terms: list[tuple[str, str]]  # (kind, value) of the blocklist


def _inputs(
    currency: str,
    customer_reference: str,
    customer_email: str,
    ip_address: str | None,
    card_fingerprint: str,
) -> _Inputs:
    """The screening's inputs as it compares them (the e-mail in the
    blocklist's form, ``email_canonical``, so any spelling of a domain is
    one; the customer's reference as stored; the IP parsed) and the rules
    and blocklist entries they bring in."""
    ip = _parse_ip(ip_address)
    email = email_canonical(customer_email)
    # Counted as stored (a saved method keeps the URL's reference as sent): a
    # trimmed copy would match none of a spaced reference's payments.
    reference = customer_reference if customer_reference.strip() else ""
    velocity = _velocity_checks(customer_reference=reference, email=email, ip=ip)
    terms = _blocklist_terms(email=email, ip=ip, card=card_fingerprint.strip())
    return _Inputs(currency.strip().upper(), email, ip, velocity, terms)


def score_for(reasons: list[str]) -> int:
    points = settings.FRAUD_RULE_SCORES
    return min(MAX_SCORE, sum(points.get(reason, 0) for reason in reasons))


def level_for(score: int) -> RiskLevel:
    if score >= settings.FRAUD_LEVEL_HIGH:
        return RiskLevel.HIGH
    if score >= settings.FRAUD_LEVEL_MEDIUM:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


def _threshold(currency: str, override: int | None) -> int | None:
    """The threshold in force: the admin's ``override``, else the settings'."""
    if override is not None:
        return override
    return settings.FRAUD_AMOUNT_THRESHOLDS.get(currency)


def _amount_reasons(*, amount: int, currency: str, override: int | None) -> list[str]:
    threshold = _threshold(currency, override)
    if threshold is not None and amount > threshold:
        return ["amount_over_threshold"]
    return []


# Rule code -> (the value its payments share, the limit).
_Checks = dict[str, tuple[str, int]]
_VELOCITY_FIELDS = {
    "velocity_customer": "customer_reference",
    "velocity_email": "customer_email",
    "velocity_ip": "ip_address",
}


def _velocity_checks(
    *,
    customer_reference: str,
    email: str,
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
) -> _Checks:
    """The velocity rules that apply: rule code -> (value, limit)."""
    checks = {
        "velocity_customer": (
            customer_reference,
            settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER,
        ),
        "velocity_email": (email, settings.FRAUD_VELOCITY_MAX_PER_EMAIL),
        "velocity_ip": (
            str(ip) if ip is not None else "",
            settings.FRAUD_VELOCITY_MAX_PER_IP,
        ),
    }
    return {
        code: (value, cap) for code, (value, cap) in checks.items() if value and cap
    }


def _lock_statement(seen: _Inputs, using: str) -> tuple[str, list[Any]] | None:
    """One transaction-scoped advisory lock per screened value, taken in the
    keys' order (so two payments sharing two values never deadlock). Held
    until the payment's first commit: the next payment of the same customer,
    e-mail or IP waits for it here, then counts it. The keys are hashed here,
    stable across server versions (unlike ``hashtext``)."""
    if connection_for(using).vendor != "postgresql" or not seen.velocity:
        return None
    keys = sorted(
        int.from_bytes(
            hashlib.blake2b(
                f"payments.velocity:{code}:{value}".encode(), digest_size=8
            ).digest(),
            "big",
            signed=True,
        )
        for code, (value, _cap) in seen.velocity.items()
    )
    return _lock_sql(len(keys)), keys


@functools.cache
def _lock_sql(count: int) -> str:
    # Left to right, one statement: the read then goes after it, in a new
    # snapshot that sees what the lock's last holder committed.
    return "SELECT " + ", ".join(["pg_advisory_xact_lock(%s)"] * count)


def velocity_lock(
    *, customer_reference: str, customer_email: str, ip_address: str | None = None
) -> None:
    """The locks ``payment_screen`` takes for these values, without its
    screening: a payment stored unscreened (a recurring run's) is then
    counted by every screening of its customer that follows its commit."""
    seen = _inputs("", customer_reference, customer_email, ip_address, "")
    using = router.db_for_read(Payment)
    _velocity_lock(_lock_statement(seen, using), using)


def _velocity_lock(statement: tuple[str, list[Any]] | None, using: str) -> None:
    """Take the velocity lock (``_lock_statement``) before the read; answered
    by the one sent ahead with the idempotency claim if it rode there. Outside
    a transaction it would end at once: the payment's own INSERT then commits
    it alone."""
    if statement is not None and connection_for(using).in_atomic_block:
        execute_rows(*statement, using=using)


def _blocklist_terms(
    *,
    email: str,
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
    card: str,
) -> list[tuple[str, str]]:
    """The (kind, value) entries that would match exactly."""
    terms = []
    if email:
        domain = "@" + email.rpartition("@")[2]
        terms += [(BlocklistKind.EMAIL, email), (BlocklistKind.EMAIL, domain)]
    if card:
        terms.append((BlocklistKind.CARD, card))
    if ip is not None:
        terms.append((BlocklistKind.IP, str(ip)))
    return terms


@dataclass(frozen=True)
class _Read:
    threshold: int | None
    counts: dict[str, int]
    blocked: list[tuple[str, str]]


def _screening_statement(seen: _Inputs) -> tuple[str, str, list[Any]]:
    """The admin's threshold, the velocity counts and the blocklist rows that
    may match (with an IP: and every IP range), as the rows of one
    statement: (part, kind, value, number). Its database, SQL and params."""
    using = router.db_for_read(Payment)
    conn = connection_for(using)
    # The window by the database's clock, in the statement (PostgreSQL).
    in_sql = conn.vendor == "postgresql"
    since = _window_start(conn, in_sql)
    params: list[Any] = [seen.iso]
    for code, (value, _cap) in seen.velocity.items():
        field = Payment._meta.get_field(_VELOCITY_FIELDS[code])
        params += [code, field.get_db_prep_value(value, conn), since]
    for kind, value in seen.terms:
        params += [kind, value]
    ranges = seen.ip is not None
    if ranges:
        params += [BlocklistKind.IP, "%/%"]
    sql = _read_sql(using, tuple(seen.velocity), len(seen.terms), ranges, in_sql)
    return using, sql, params


def _window_start(conn: Any, in_sql: bool) -> Any:
    """The velocity window's parameter. PostgreSQL: its minutes, the start
    reckoned in the statement from the database's clock, which every
    payment's created_at is (a web machine's skew shifts no window). SQLite:
    the start by this machine's clock, which is SQLite's."""
    minutes = settings.FRAUD_VELOCITY_WINDOW_MINUTES
    if in_sql:
        return minutes
    since = timezone.now() - timedelta(minutes=minutes)
    # From the whole second: the statement sent ahead with the API's
    # idempotency claim then has the screening's own values and serves it.
    since = since.replace(microsecond=0)
    # From timezone.now(): get_db_prep_value would add only this adaptation.
    return conn.ops.adapt_datetimefield_value(since)


@functools.cache
def _read_sql(
    using: str, rules: tuple[str, ...], exact: int, ranges: bool, in_sql: bool
) -> str:
    """The statement for one shape of screening (built once per shape).

    Raw SQL, not the ORM: composing five querysets cost more CPU than the
    round trips it saved."""
    name = connections[using].ops.quote_name
    threshold, blocklist = (
        name(model._meta.db_table) for model in (AmountThreshold, BlocklistEntry)
    )
    payments, created = name(Payment._meta.db_table), name("created_at")
    # Only quoted names from the models go into the text; values are params.
    amount, currency, kind, value = map(name, ("amount", "currency", "kind", "value"))
    window = "statement_timestamp() - make_interval(mins => %s)" if in_sql else "%s"
    first = f"SELECT 'threshold', '', '', {amount} FROM {threshold}"  # noqa: S608
    parts = [f"{first} WHERE {currency} = %s"]
    for code in rules:
        column = name(_VELOCITY_FIELDS[code])
        # As the ORM's iexact on PostgreSQL, for the stored e-mail's case.
        match = (
            f"UPPER({column}) = UPPER(%s)"
            if code == "velocity_email"
            else f"{column} = %s"
        )
        parts.append(
            f"SELECT %s, '', '', COUNT(*) FROM {payments} "  # noqa: S608
            f"WHERE {match} AND {created} >= {window}"
        )
    if exact or ranges:
        tests = [f"({kind} = %s AND {value} = %s)"] * exact
        tests += [f"({kind} = %s AND {value} LIKE %s)"] * ranges
        parts.append(
            f"SELECT 'blocklist', {kind}, {value}, 0 FROM {blocklist} "  # noqa: S608
            f"WHERE {' OR '.join(tests)}"
        )
    return " UNION ALL ".join(parts)


def _read_rows(rows: list[tuple[Any, ...]]) -> _Read:
    threshold = None
    counts: dict[str, int] = {}
    blocked = []
    for part, kind, value, number in rows:
        if part == "threshold":
            threshold = number
        elif part == "blocklist":
            blocked.append((kind, value))
        else:
            counts[part] = number
    return _Read(threshold, counts, blocked)


def _blocklist_reasons(
    *,
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
    rows: list[tuple[str, str]],
) -> list[str]:
    hits: set[str] = set()
    for kind, value in rows:
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
