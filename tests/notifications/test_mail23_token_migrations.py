"""Migration 0011 (notifications.WebhookToken) on the real migrations
(``--migrations -m migrations``), through the models as the migration
leaves them: the table is created with one token per account, dropped on
the way back, and the release before (no table) keeps working meanwhile."""

from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from tests.migration_state import historical_apps, migrated_back

TABLE = "notifications_webhooktoken"


def _tables() -> list[str]:
    return connection.introspection.table_names()


@pytest.mark.migrations
@pytest.mark.django_db(transaction=True)
def test_0011_creates_the_token_table_unique_per_account(request) -> None:
    with migrated_back(request, "notifications", "0010"):
        assert TABLE not in _tables()
        call_command("migrate", "notifications", "0011", verbosity=0)
        apps = historical_apps("notifications", "0011")
        accounts = apps.get_model("integrations", "ProviderAccount").objects
        account = accounts.create(
            kind="email", provider="mailgun", slug="mg-one", display_name="One"
        )
        token = apps.get_model("notifications", "WebhookToken")
        signed = datetime(2026, 12, 6, tzinfo=UTC)
        fields = {"token_digest": "a" * 64, "body_digest": "b" * 64}
        token.objects.create(account=account, signed_at=signed, **fields)
        with pytest.raises(IntegrityError), transaction.atomic():
            token.objects.create(account=account, signed_at=signed, **fields)
        other = accounts.create(
            kind="email", provider="mailgun", slug="mg-other", display_name="Other"
        )
        token.objects.create(account=other, signed_at=signed, **fields)
        assert token.objects.count() == 2
        call_command("migrate", "notifications", "0010", verbosity=0)
        assert TABLE not in _tables()
