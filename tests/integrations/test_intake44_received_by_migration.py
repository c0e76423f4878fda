"""intake44: migration 0012 gives the unusable webhook rows stored before
they named their account's kind and provider that account's kind and
provider, so a switch of the account made since is caught by replay. In
batches, each its own transaction locking only its unusable rows; a row that
already names them, another event, a row whose account is gone: left alone."""

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps as today
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.models import ProviderAccount, WebhookEvent
from integrations.webhooks import recovery
from tests.factories import ProviderAccountFactory
from tests.integrations.intake42_helpers import (
    REFUND_EVENT,
    dead_before_the_fix,
    post,
    standard,
)
from tests.migration_state import historical_apps, migrated_back

migration = importlib.import_module(
    "integrations.migrations.0012_webhook_unusable_received_by"
)
pytestmark = pytest.mark.django_db
SANDBOX = {"kind": "payments", "provider": "sandbox"}


def _fill() -> int:
    return migration.fill_received_by(today, SimpleNamespace(connection=connection))


def _stored_before(account, body: bytes = REFUND_EVENT, **payload) -> WebhookEvent:
    """An unusable row as stored before rows named kind and provider."""
    row = dead_before_the_fix(account, body, "msg_1")
    WebhookEvent.objects.filter(pk=row.pk).update(payload=payload)
    return row


def test_a_row_stored_before_gets_its_accounts_kind_and_provider():
    row = _stored_before(ProviderAccountFactory(slug="sbx-pay"))
    assert _fill() == 1
    row.refresh_from_db()
    assert row.payload == {"received_by": SANDBOX}


def test_then_a_switch_of_the_account_is_caught_by_replay():
    account = ProviderAccountFactory(slug="sbx-pay")
    row = _stored_before(account)
    _fill()
    ProviderAccount.objects.filter(pk=account.pk).update(kind="shipping")

    result = recovery.webhook_unusable_recover(event_id=row.pk)

    assert result.outcome == recovery.REFUSED
    assert "another kind or provider" in result.reason


def test_what_a_row_holds_is_kept_and_other_rows_are_left_alone():
    account = ProviderAccountFactory(slug="sbx-pay")
    recovered = _stored_before(account, recovered={"new": [7], "old": []})
    named = _stored_before(
        ProviderAccountFactory(slug="sbx-two"),
        received_by={"kind": "email", "provider": "smtp"},
    )
    post(account, REFUND_EVENT, **standard(REFUND_EVENT, "msg_9"))
    event = WebhookEvent.objects.get(dedupe_key="msg_9")
    before = event.payload

    assert _fill() == 1

    recovered.refresh_from_db()
    assert recovered.payload == {
        "recovered": {"new": [7], "old": []},
        **{"received_by": SANDBOX},
    }
    named.refresh_from_db()
    assert named.payload["received_by"] == {"kind": "email", "provider": "smtp"}
    event.refresh_from_db()
    assert event.payload == before


def test_in_batches_each_locking_only_its_rows_and_run_again_it_fills_nothing(
    monkeypatch,
):
    monkeypatch.setattr(migration, "BATCH", 2)
    rows = [
        _stored_before(ProviderAccountFactory(slug=f"sbx-{n}"), b"[%d]" % n)
        for n in range(5)
    ]

    with CaptureQueriesContext(connection) as queries:
        assert _fill() == 5

    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    batches = [sql for sql in reads if "webhookevent" in sql]
    assert len(batches) == 3  # 2 + 2 + 1
    if connection.vendor == "postgresql":
        assert all("FOR UPDATE" in sql and "LIMIT 2" in sql for sql in batches)
        assert all("JOIN" not in sql for sql in batches)  # no account row locked
    for row in rows:
        row.refresh_from_db()
        assert row.payload["received_by"] == SANDBOX
    assert _fill() == 0


def test_the_migration_runs_outside_one_long_transaction():
    assert migration.Migration.atomic is False


@pytest.mark.postgres
def test_a_row_whose_account_is_gone_is_left_as_it_is():
    # The foreign key is checked at commit (deferred): within the test's
    # transaction the account can be gone, as a hand-edited database has it.
    kept = _stored_before(ProviderAccountFactory(slug="sbx-kept"), b"[1]")
    account = ProviderAccountFactory(slug="sbx-gone")
    orphan = _stored_before(account, b"[2]")
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute(
            "DELETE FROM integrations_provideraccount WHERE id = %s", [account.pk]
        )

    assert _fill() == 1

    orphan.refresh_from_db()
    assert orphan.payload == {}
    kept.refresh_from_db()
    assert kept.payload == {"received_by": SANDBOX}
    WebhookEvent.objects.filter(pk=orphan.pk).delete()  # the commit's check


@pytest.mark.migrations
@pytest.mark.django_db(transaction=True)
def test_0012_fills_rows_stored_at_0011(request):
    before = "0011_batchitem_defers"
    with migrated_back(request, "integrations", before):
        old = historical_apps("integrations", before)
        account = old.get_model("integrations", "ProviderAccount").objects.create(
            kind="payments", provider="sandbox", slug="sbx-mig", display_name="m"
        )
        row = old.get_model("integrations", "WebhookEvent").objects.create(
            account_id=account.pk,
            event_type="(unusable body)",
            dedupe_key="sha256:x",
            raw_body=b"[1]",
            status="dead",
        )
    assert WebhookEvent.objects.get(pk=row.pk).payload == {"received_by": SANDBOX}
