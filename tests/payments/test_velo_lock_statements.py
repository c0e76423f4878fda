"""Which statements the screening sends: the velocity lock only on
PostgreSQL and only for the rules that apply; SQLite's path is unchanged."""

import pytest
from django.db import connection

from payments import fraud, selectors

pytestmark = pytest.mark.django_db

VALUES = {
    "currency": "EUR",
    "customer_reference": "cus_1",
    "customer_email": "A@Example.com",
    "ip_address": "203.0.113.9",
    "card_fingerprint": "",
}


def test_no_lock_where_the_database_is_not_postgresql(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    statements = fraud.screening_statements(**VALUES)
    assert len(statements) == 1
    assert "pg_advisory" not in statements[0][0]
    sent = []
    real = fraud.execute_rows

    def recorded(sql, params, using):  # type: ignore[no-untyped-def]
        sent.append(sql)
        return real(sql, params, using=using)

    monkeypatch.setattr(fraud, "execute_rows", recorded)
    fraud.payment_screen(amount=100, billing_country="", ip_country="", **VALUES)
    assert sent == [statements[0][0]]


@pytest.mark.postgres
def test_one_lock_per_screened_value_in_key_order():
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    (lock, lock_params), (read, _params) = fraud.screening_statements(**VALUES)
    assert lock.count("pg_advisory_xact_lock(%s)") == 3 and "COUNT" in read
    assert lock_params == sorted(lock_params)
    # The e-mail's case makes no other key: it is counted case-insensitively.
    other = fraud.screening_statements(**{**VALUES, "customer_email": "a@EXAMPLE.com"})
    assert other[0][1] == lock_params
    # No velocity rule applies: no lock.
    blank = {**VALUES, "customer_reference": "", "customer_email": "", "ip_address": ""}
    assert len(fraud.screening_statements(**blank)) == 1
    # Sent ahead in that order, after the enabled accounts.
    reads = selectors.payment_create_reads(VALUES)
    assert [sql for sql, _ in reads[1:]] == [lock, read]
