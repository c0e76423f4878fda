"""Only an email account's breaker or enabling needs the email wake-up: a
payments (or shipping, inventory) account's breaker mode change or enabling
writes its event and no delivery for ``notifications.wiring.email_wake``.
Before, every account's change wrote one more outbox row (and one more task)
for a subscriber that then found no email account and did nothing."""

import pytest
from django.urls import reverse

from integrations.breaker import breaker_mode_set
from integrations.models import Event, EventDelivery
from integrations.models.accounts import BreakerMode
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db
WAKE = "notifications.wiring.email_wake"


def _deliveries(name: str, slug: str) -> list[str]:
    event = Event.objects.get(name=name, subject=slug)
    rows = EventDelivery.objects.filter(event=event)
    return sorted(rows.values_list("subscriber", flat=True))


@pytest.mark.parametrize("kind", ["payments", "shipping", "inventory"])
def test_another_kinds_breaker_mode_change_writes_no_wake_row(kind) -> None:
    account = ProviderAccountFactory(kind=kind, slug=f"{kind}-a")
    breaker_mode_set(account=account, mode=BreakerMode.FORCED_OPEN, actor="ops")
    assert _deliveries("integrations.breaker_mode_changed", account.slug) == []
    assert EventDelivery.objects.filter(subscriber=WAKE).count() == 0


def test_an_email_accounts_breaker_mode_change_writes_one_wake_row() -> None:
    account = ProviderAccountFactory(kind="email", slug="mail-a")
    breaker_mode_set(account=account, mode=BreakerMode.FORCED_OPEN, actor="ops")
    assert _deliveries("integrations.breaker_mode_changed", account.slug) == [WAKE]


@pytest.mark.parametrize(("kind", "expected"), [("payments", []), ("email", [WAKE])])
def test_enabling_an_account_writes_a_wake_row_for_email_only(
    admin_client, kind, expected
) -> None:
    account = ProviderAccountFactory(kind=kind, slug=f"{kind}-b", enabled=False)
    url = reverse("admin:integrations_provideraccount_changelist")
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(account.pk),
        "form-0-priority": str(account.priority),
        "form-0-enabled": "on",
        "_save": "Save",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content
    assert _deliveries("integrations.account_enabled", account.slug) == expected
