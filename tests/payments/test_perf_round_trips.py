"""The round trips of one API payment (issue 17's last item): the enabled
accounts and the fraud screening's read ride with the idempotency claim
(``integrations.db.reads_ahead``), and every guarantee of the write path
still holds on that path."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.utils import timezone
from psycopg import BaseConnection

from integrations import db, db_libpq
from integrations.models import ProviderAccount
from payments import fraud
from payments.models import BlocklistEntry, Payment, SandboxCharge
from tests.factories import ProviderAccountFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

URL = "/api/v1/payments/"
# Written by the gateway (the in-process sandbox) or the call log, not by us.
_NOT_OURS = ("payments_sandbox", "integrations_providercall")


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the pipelined reads exist on PostgreSQL only")


def body(**overrides: object) -> dict:
    values = {"order_id": "order-17", "amount": 1050, "currency": "EUR"}
    values.update({"source_token": "tok_success", "capture": True, **overrides})
    return values


def post(api, key: str | None = None, data: dict | None = None):
    key = key or uuid.uuid4().hex
    return api.post(URL, data or body(), format="json", HTTP_IDEMPOTENCY_KEY=key)


@contextmanager
def round_trips(monkeypatch) -> Iterator[list[str]]:
    """Each round trip to PostgreSQL on this thread's connection: a statement
    sent straight to libpq, a pipeline, one through Django's cursor, or a
    transaction command psycopg sends itself."""
    sent: list[str] = []

    def wrap(name: str, owner: object, label):  # type: ignore[no-untyped-def]
        original = getattr(owner, name)

        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            sent.append(label(*args))
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)

    wrap("_execute_libpq", db, lambda _pconn, sql, _params: sql.decode()[:60])
    wrap("_pipeline", db_libpq, lambda _pg, _b, steps, _a: f"pipeline of {len(steps)}")
    wrap("_execute", CursorWrapper, lambda _self, sql, *_: str(sql)[:60])
    wrap("_exec_command", BaseConnection, lambda _self, command, *_: str(command))
    yield sent


@pytest.fixture
def steady_clock(monkeypatch) -> None:
    """The screening's clock stops: its window starts on the whole second, so
    a request whose validation crosses one reads fresh (correct, one round
    trip more), which would make the counts below flaky."""
    now = timezone.now().replace(microsecond=500_000)
    monkeypatch.setattr(fraud, "timezone", SimpleNamespace(now=lambda: now))


@pytest.fixture
def served(monkeypatch) -> list[bool]:
    """Whether each read the handler asked for was served from those sent
    ahead (True) or went to the database (False)."""
    answers: list[bool] = []
    original = db._ReadsAhead.serve

    def serve(self, conn, sql, params):  # type: ignore[no-untyped-def]
        rows = original(self, conn, sql, params)
        answers.append(rows is not None)
        return rows

    monkeypatch.setattr(db._ReadsAhead, "serve", serve)
    return answers


@pytest.mark.redis
def test_a_payment_takes_six_round_trips_of_ours(
    api, primary, monkeypatch, steady_clock
):
    post(api)  # warm-up: the key's last-used time, prepared statements
    with round_trips(monkeypatch) as sent:
        response = post(api, data=body(customer_email="a@b.example"))
    assert response.status_code == 201, response.json()
    ours = [s for s in sent if not any(table in s for table in _NOT_OURS)]
    # API key | claim + accounts + velocity lock + screening | payment |
    # attempt + COMMIT | attempt result | event + response + COMMIT (was 8
    # with the two reads; the velocity lock rides in the claim's too).
    assert len(ours) <= 6, sent
    assert "pipeline of 4" in ours


@pytest.mark.redis
def test_the_reads_sent_ahead_answer_as_fresh_reads(
    api, primary, served, settings, steady_clock
):
    """The screening served from the claim's round trip sees what a fresh read
    sees: payments committed before, the blocklist, the enabled accounts."""
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 1
    first = post(api, data=body(customer_reference="cus_17"))
    assert first.json()["risk"]["reasons"] == []
    second = post(api, data=body(customer_reference="cus_17"))
    # The first payment, committed by its own request, is counted.
    assert second.json()["risk"]["reasons"] == ["velocity_customer"]
    BlocklistEntry.objects.create(kind="email", value="bad@example.com")
    blocked = post(api, data=body(customer_email="bad@example.com"))
    assert blocked.status_code == 402
    assert blocked.json()["error"]["code"] == "payment_blocked"
    BlocklistEntry.objects.create(kind="ip", value="203.0.113.0/24")
    in_range = post(api, data=body(ip_address="::ffff:203.0.113.7"))
    assert in_range.json()["payment"]["risk"]["reasons"] == ["blocklisted_ip"]
    # Accounts, velocity lock and screening.
    assert len(served) == 12 and all(served), served


@pytest.mark.redis
def test_a_disabled_account_is_never_used(api, primary, monkeypatch):
    backup = ProviderAccountFactory(slug="sbx-backup", priority=2)
    post(api)  # warm-up, served by the primary
    ProviderAccount.objects.filter(pk=primary.pk).update(enabled=False)
    response = post(api)
    assert response.status_code == 201
    payment = Payment.objects.get(public_id=response.json()["id"])
    assert payment.account_id == backup.pk
    ProviderAccount.objects.filter(pk=backup.pk).update(enabled=False)
    refused = post(api)  # no account left: refused, nothing charged
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_source_token"
    assert SandboxCharge.objects.filter(kind="payment").count() == 2


@pytest.mark.redis
def test_a_body_unlike_the_read_ahead_is_screened_fresh(
    api, primary, served, settings, steady_clock
):
    """A value the serializer changes (a number for a text field) is not the
    statement sent ahead: the screening reads its own, with the same result."""
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 1
    assert post(api, data=body(customer_reference="42")).status_code == 201
    served.clear()
    response = post(api, data=body(customer_reference=42))
    assert response.status_code == 201, response.json()
    assert response.json()["risk"]["reasons"] == ["velocity_customer"]
    # The accounts served; the velocity lock and the screening go fresh.
    assert served == [True, False, False]


@pytest.mark.redis
def test_replay_and_a_reused_key_after_the_reads_ride(api, primary):
    key = uuid.uuid4().hex
    first = post(api, key)
    again = post(api, key)  # the claim conflicts: the reads after it are dropped
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    other = post(api, key, body(amount=999))
    assert other.status_code == 422
    assert SandboxCharge.objects.filter(kind="payment").count() == 1
    # The connection still works and the next payment is whole.
    assert post(api).status_code == 201


@pytest.mark.parametrize(
    "overrides",
    [
        {"customer_reference": "c" * 300},
        {"customer_email": "not-an-email"},
        {"ip_address": "not-an-ip"},
        {"currency": "E" * 300},
        {"card_fingerprint": "f" * 300, "amount": "lots"},
    ],
)
def test_a_body_refused_by_validation_is_still_a_400(api, primary, overrides):
    """The reads sent ahead take the body as sent, before validation: what
    the serializer refuses stays a 400, stored as the key's answer."""
    key = uuid.uuid4().hex
    response = post(api, key, body(**overrides))
    assert response.status_code == 400, response.json()
    assert post(api, key, body(**overrides)).json() == response.json()
    assert not Payment.objects.exists()
    assert post(api).status_code == 201  # and the connection goes on


def test_a_second_passing_before_the_screening_still_serves_it(
    api, primary, served, settings, monkeypatch
):
    """A second passing between the read sent ahead and the screening: the
    window is reckoned in the statement by the database's clock (r-pay41b),
    so it is the same statement, and the read sent ahead serves it."""
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 1
    assert post(api, data=body(customer_reference="cus_9")).status_code == 201
    start = timezone.now().replace(microsecond=999_000)
    ticks = iter([start, start + timedelta(milliseconds=2)])
    monkeypatch.setattr(fraud, "timezone", SimpleNamespace(now=lambda: next(ticks)))
    served.clear()
    response = post(api, data=body(customer_reference="cus_9"))
    assert response.json()["risk"]["reasons"] == ["velocity_customer"]
    # The accounts, the velocity lock and the screening served.
    assert served == [True, True, True]
