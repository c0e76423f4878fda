"""Staff move a failed recurring charge to its customer's default saved
method, which resumes it (admin action, permission
payments.manage_recurringcharge); a refusal is shown, the rest done."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from payments import services
from payments.models import RecurringCharge, RecurringStatus, SavedPaymentMethod
from tests.payments.recurring_setup import (
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:payments_recurringcharge_changelist")


def _client(django_user_model, codenames: list[str]) -> Client:
    user = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="payments", codename__in=codenames
        )
    )
    client = Client()
    client.force_login(user)
    return client


def move(client: Client, *charges: RecurringCharge):
    return client.post(
        CHANGELIST,
        {
            "action": "move_to_default_method",
            "_selected_action": [c.pk for c in charges],
        },
        follow=True,
    )


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def failed(recurring) -> RecurringCharge:
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.FAILED, next_run_at=timezone.now() - timedelta(days=3)
    )
    recurring.refresh_from_db()
    return recurring


@pytest.fixture
def new_card(failed) -> SavedPaymentMethod:
    return services.payment_method_save(
        customer_reference="cus_1",
        source_token="tok_success",
        idempotency_key="m2",
        make_default=True,
    )


def test_a_manager_moves_a_failed_charge_to_the_default_method(
    django_user_model, failed, new_card
):
    manager = _client(
        django_user_model, ["view_recurringcharge", "manage_recurringcharge"]
    )

    response = move(manager, failed)

    failed.refresh_from_db()
    assert (failed.status, failed.saved_method_id) == ("active", new_card.pk)
    assert failed.next_run_at > timezone.now() - timedelta(minutes=1)
    (message,) = messages_of(response)
    assert message.startswith(f"{failed.public_id}: Moved to {new_card.public_id}")
    entry = LogEntry.objects.get(object_id=str(failed.pk))
    assert new_card.public_id in entry.get_change_message()


def test_no_other_default_method_is_shown_and_nothing_changes(
    django_user_model, failed
):
    manager = _client(
        django_user_model, ["view_recurringcharge", "manage_recurringcharge"]
    )

    response = move(manager, failed)

    failed.refresh_from_db()
    assert failed.status == RecurringStatus.FAILED
    (message,) = messages_of(response)
    assert message.startswith(f"{failed.public_id}: ")
    assert "default" in message
    assert not LogEntry.objects.filter(object_id=str(failed.pk)).exists()


def test_the_action_needs_the_manage_permission(django_user_model, failed, new_card):
    viewer = _client(django_user_model, ["view_recurringcharge"])

    page = viewer.get(CHANGELIST)
    assert "move_to_default_method" not in page.content.decode()
    move(viewer, failed)

    failed.refresh_from_db()
    assert failed.status == RecurringStatus.FAILED
