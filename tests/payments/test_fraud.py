"""Fraud screening: each rule, the score, and the level boundaries."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from payments.fraud import Screening, level_for, payment_screen, score_for
from payments.models import (
    AmountThreshold,
    BlocklistEntry,
    BlocklistKind,
    Payment,
    RiskLevel,
    blocklist_normalise,
)

pytestmark = pytest.mark.django_db

RULES = {
    "amount_over_threshold": 40,
    "velocity_customer": 35,
    "velocity_email": 35,
    "velocity_ip": 35,
    "country_mismatch": 30,
    "blocklisted_email": 100,
    "blocklisted_ip": 100,
    "blocklisted_card": 100,
}


@pytest.fixture(autouse=True)
def _fraud_settings(settings) -> None:
    # Pinned here so a changed default does not silently change these tests.
    settings.FRAUD_AMOUNT_THRESHOLDS = {"USD": 100_000, "JPY": 15_000_000}
    settings.FRAUD_VELOCITY_WINDOW_MINUTES = 60
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 3
    settings.FRAUD_VELOCITY_MAX_PER_EMAIL = 3
    settings.FRAUD_VELOCITY_MAX_PER_IP = 4
    settings.FRAUD_RULE_SCORES = dict(RULES)
    settings.FRAUD_LEVEL_MEDIUM = 30
    settings.FRAUD_LEVEL_HIGH = 70


def make_payment(**fields: object) -> Payment:
    values: dict[str, object] = {
        "order_id": "order-1",
        "customer_reference": "cus_1",
        "customer_email": "ada@example.com",
        "ip_address": "203.0.113.7",
        "amount": 1_000,
        "currency": "USD",
        "status": "failed",
    }
    values.update(fields)
    return Payment.objects.create(**values)


def screen(**overrides: object) -> Screening:
    values: dict[str, object] = {
        "amount": 5_000,
        "currency": "USD",
        "customer_reference": "cus_1",
        "customer_email": "ada@example.com",
        "ip_address": "203.0.113.7",
        "billing_country": "GB",
        "card_fingerprint": "fp_abc",
        "ip_country": "",
    }
    values.update(overrides)
    return payment_screen(**values)


def test_an_ordinary_payment_is_low_with_no_reasons():
    result = screen()
    assert result == Screening(score=0, level=RiskLevel.LOW, reasons=[])


# --- amount -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "fires"),
    [
        (100_000, "USD", False),  # at the threshold: not over it
        (100_001, "USD", True),
        (15_000_000, "JPY", False),  # zero-decimal: the threshold is in yen
        (15_000_001, "jpy", True),  # currency code case does not matter
        (10**12, "CHF", False),  # no threshold for CHF: not checked
    ],
)
def test_amount_over_the_currency_threshold(amount, currency, fires):
    result = screen(amount=amount, currency=currency)
    assert ("amount_over_threshold" in result.reasons) is fires
    assert result.score == (40 if fires else 0)


def test_an_admin_threshold_overrides_the_settings_one():
    AmountThreshold.objects.create(currency="USD", amount=20_000)
    assert screen(amount=20_001).reasons == ["amount_over_threshold"]
    assert screen(amount=20_000).reasons == []
    AmountThreshold.objects.create(currency="CHF", amount=50_000)
    assert screen(amount=50_001, currency="CHF").reasons == ["amount_over_threshold"]


def test_amount_threshold_currency_is_normalised_by_clean():
    threshold = AmountThreshold(currency="eur", amount=1)
    threshold.full_clean()
    assert threshold.currency == "EUR"
    with pytest.raises(ValidationError):
        AmountThreshold(currency="EUX", amount=1).full_clean()


# --- velocity ---------------------------------------------------------------


def test_velocity_per_customer_fires_at_the_limit_within_the_window():
    for _ in range(2):
        make_payment(customer_reference="cus_1", customer_email="", ip_address=None)
    assert "velocity_customer" not in screen().reasons
    make_payment(customer_reference="cus_1", customer_email="", ip_address=None)
    result = screen()
    assert result.reasons == ["velocity_customer"]
    assert result.level == RiskLevel.MEDIUM
    # Another customer is not counted against this one.
    assert screen(customer_reference="cus_2").reasons == []


def test_velocity_per_email_ignores_case():
    for email in ("Ada@Example.com", "ada@example.com", "ADA@EXAMPLE.COM"):
        make_payment(customer_reference="", customer_email=email, ip_address=None)
    assert screen(customer_email=" ada@example.COM ").reasons == ["velocity_email"]


def test_velocity_per_ip():
    for n in range(4):
        make_payment(
            customer_reference=f"c{n}", customer_email="", ip_address="10.1.2.3"
        )
    assert screen(ip_address="10.1.2.3").reasons == ["velocity_ip"]
    assert screen(ip_address="10.1.2.4").reasons == []
    # An IPv4 client seen through an IPv6 socket is the same client.
    assert screen(ip_address="::ffff:10.1.2.3").reasons == ["velocity_ip"]


def test_velocity_only_counts_payments_inside_the_window():
    old = timezone.now() - timedelta(minutes=61)
    for _ in range(3):
        make_payment(customer_reference="cus_1", created_at=old)
    assert screen().reasons == []
    make_payment(customer_reference="cus_1", created_at=timezone.now())
    make_payment(customer_reference="cus_1", created_at=timezone.now())
    assert screen().reasons == []
    make_payment(customer_reference="cus_1", created_at=timezone.now())
    assert "velocity_customer" in screen().reasons


def test_a_velocity_limit_of_zero_turns_the_check_off(settings):
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 0
    for _ in range(5):
        make_payment(customer_reference="cus_1", customer_email="", ip_address=None)
    assert screen().reasons == []


def test_all_three_velocity_rules_add_up_to_high():
    for _ in range(4):
        make_payment(
            customer_reference="cus_1",
            customer_email="ada@example.com",
            ip_address="203.0.113.7",
        )
    result = screen()
    assert result.reasons == ["velocity_customer", "velocity_email", "velocity_ip"]
    assert result.score == 100  # 105, capped
    assert result.level == RiskLevel.HIGH


def test_missing_identifiers_are_not_velocity_evidence():
    for _ in range(5):
        make_payment(customer_reference="", customer_email="", ip_address=None)
    assert (
        screen(customer_reference="", customer_email="", ip_address=None).reasons == []
    )


# --- blocklists -------------------------------------------------------------


def block(kind: str, value: str) -> BlocklistEntry:
    entry = BlocklistEntry(kind=kind, value=value, reason="test")
    entry.full_clean()
    entry.save()
    return entry


def test_blocklisted_email_and_whole_domain():
    block(BlocklistKind.EMAIL, " Mallory@Evil.test ")
    result = screen(customer_email="mallory@evil.test")
    assert result.reasons == ["blocklisted_email"]
    assert (result.score, result.level) == (100, RiskLevel.HIGH)
    assert screen(customer_email="eve@evil.test").reasons == []

    block(BlocklistKind.EMAIL, "@Spam.test")
    assert screen(customer_email="anyone@spam.test").reasons == ["blocklisted_email"]
    assert screen(customer_email="anyone@notspam.test").reasons == []


@pytest.mark.parametrize(
    ("entry", "ip", "fires"),
    [
        ("198.51.100.9", "198.51.100.9", True),
        ("198.51.100.9", "198.51.100.10", False),
        ("198.51.100.0/24", "198.51.100.200", True),
        ("198.51.100.7/24", "198.51.101.1", False),  # host bits are dropped
        ("2001:db8::/32", "2001:db8:1::5", True),
        ("2001:db8::/32", "2001:db9::5", False),
        ("198.51.100.0/24", "::ffff:198.51.100.3", True),
        ("198.51.100.0/24", "not an ip", False),
    ],
)
def test_blocklisted_ip_and_ranges(entry, ip, fires):
    block(BlocklistKind.IP, entry)
    assert (screen(ip_address=ip).reasons == ["blocklisted_ip"]) is fires


def test_blocklisted_card_fingerprint():
    block(BlocklistKind.CARD, " fp_stolen ")
    assert screen(card_fingerprint="fp_stolen").reasons == ["blocklisted_card"]
    assert screen(card_fingerprint="fp_other").reasons == []
    assert screen(card_fingerprint="").reasons == []


def test_several_blocklist_hits_are_each_reported_once():
    block(BlocklistKind.EMAIL, "ada@example.com")
    block(BlocklistKind.EMAIL, "@example.com")
    block(BlocklistKind.IP, "203.0.113.0/24")
    block(BlocklistKind.IP, "203.0.113.7")
    block(BlocklistKind.CARD, "fp_abc")
    assert screen().reasons == [
        "blocklisted_email",
        "blocklisted_ip",
        "blocklisted_card",
    ]


@pytest.mark.parametrize(
    ("kind", "raw", "stored"),
    [
        ("email", " Ada@Example.COM ", "ada@example.com"),
        ("email", "@Example.com", "@example.com"),
        ("ip", "10.0.0.1", "10.0.0.1"),
        ("ip", "10.0.0.1/32", "10.0.0.1"),
        ("ip", "10.9.8.7/8", "10.0.0.0/8"),
        ("ip", "2001:DB8:0::1", "2001:db8::1"),
        ("card", " fp_1 ", "fp_1"),
    ],
)
def test_blocklist_values_are_normalised(kind, raw, stored):
    assert blocklist_normalise(kind, raw) == stored


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("email", "not-an-email"),
        ("email", "a@nodot"),
        ("ip", "10.0.0.300"),
        ("ip", "example.com"),
        ("card", "fp 1"),
        ("card", "   "),
    ],
)
def test_invalid_blocklist_values_are_refused(kind, raw):
    with pytest.raises(ValidationError) as info:
        BlocklistEntry(kind=kind, value=raw).full_clean()
    assert "value" in info.value.message_dict


def test_the_same_value_cannot_be_blocked_twice():
    block(BlocklistKind.EMAIL, "ada@example.com")
    with pytest.raises(ValidationError):
        BlocklistEntry(kind="email", value="ADA@example.com").full_clean()


# --- country ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("billing", "seen", "fires"),
    [
        ("GB", "FR", True),
        ("gb", "GB", False),
        ("GB", "", False),  # not given: no evidence
        ("", "FR", False),
    ],
)
def test_country_mismatch_only_when_both_are_given(billing, seen, fires):
    result = screen(billing_country=billing, ip_country=seen)
    assert (result.reasons == ["country_mismatch"]) is fires
    assert result.level == (RiskLevel.MEDIUM if fires else RiskLevel.LOW)


def test_ip_country_is_optional():
    values = {
        "amount": 1,
        "currency": "USD",
        "customer_reference": "",
        "customer_email": "",
        "ip_address": None,
        "billing_country": "GB",
        "card_fingerprint": "",
    }
    assert payment_screen(**values).reasons == []


# --- score and levels -------------------------------------------------------


def test_rules_add_up():
    make_payment(customer_reference="x", customer_email="", ip_address=None)
    result = screen(amount=100_001, billing_country="GB", ip_country="FR")
    assert result.reasons == ["amount_over_threshold", "country_mismatch"]
    assert result.score == 70
    assert result.level == RiskLevel.HIGH


def test_scores_come_from_settings(settings):
    settings.FRAUD_RULE_SCORES = {**RULES, "country_mismatch": 5}
    result = screen(billing_country="GB", ip_country="FR")
    assert (result.score, result.level) == (5, RiskLevel.LOW)


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0, RiskLevel.LOW),
        (29, RiskLevel.LOW),
        (30, RiskLevel.MEDIUM),
        (69, RiskLevel.MEDIUM),
        (70, RiskLevel.HIGH),
        (100, RiskLevel.HIGH),
    ],
)
def test_level_boundaries(score, level):
    assert level_for(score) == level


def test_level_boundaries_follow_settings(settings):
    settings.FRAUD_LEVEL_MEDIUM = 10
    settings.FRAUD_LEVEL_HIGH = 20
    assert [level_for(s) for s in (9, 10, 19, 20)] == [
        "low",
        "medium",
        "medium",
        "high",
    ]


def test_score_is_capped_and_ignores_unknown_codes():
    assert score_for(["blocklisted_ip", "blocklisted_card"]) == 100
    assert score_for(["no_such_rule"]) == 0


def test_screening_is_a_few_queries(django_assert_max_num_queries):
    # The threshold, the velocity counts and the blocklist: one statement;
    # in a transaction the velocity lock before it is one more, of its own
    # (a statement reads as of its start, before its own lock wait). On the
    # API's path both ride in the idempotency claim's round trip.
    with django_assert_max_num_queries(2):
        screen(billing_country="GB", ip_country="FR")


@pytest.mark.postgres
def test_every_velocity_count_is_an_index_scan_on_postgresql(monkeypatch):
    # The e-mail rule matches case-insensitively; a plain-column index left
    # it scanning every payment of the window on each screening.
    from django.db import connection

    from payments import fraud

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL plan")
    statements = []

    def recorded(sql, params, using):
        statements.append((sql, params))
        return read(sql, params, using=using)

    read = fraud.execute_rows
    monkeypatch.setattr(fraud, "execute_rows", recorded)
    screen()
    (_lock, (sql, params)) = statements  # the velocity lock, then the read
    # Payments of many customers, their statistics known: on a near-empty
    # table any plan is as cheap as another.
    Payment.objects.bulk_create(
        Payment(
            order_id=f"order-{n}",
            customer_reference=f"cus_{n}",
            customer_email=f"buyer{n}@example.com",
            ip_address=f"198.51.100.{n % 250}",
            amount=1_000,
            currency="USD",
            status="captured",
        )
        for n in range(2, 2002)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE payments_payment")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert plan.count("on payments_payment") == 3, plan
    assert "Seq Scan on payments_payment" not in plan, plan
    assert "Index Cond: ((upper((customer_email)::text)" in plan, plan
