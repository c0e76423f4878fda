"""Staff pause, resume and cancel recurring charges from the admin list:
only with the manage permission, each change in the admin log, a refused
one shown, and the page otherwise read-only."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from payments.models import RecurringCharge, RecurringStatus
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


@pytest.fixture
def manager(django_user_model) -> Client:
    return _client(
        django_user_model, ["view_recurringcharge", "manage_recurringcharge"]
    )


@pytest.fixture
def viewer(django_user_model) -> Client:
    return _client(django_user_model, ["view_recurringcharge"])


def action(client: Client, name: str, *charges: RecurringCharge):
    return client.post(
        CHANGELIST,
        {"action": name, "_selected_action": [c.pk for c in charges]},
        follow=True,
    )


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def log_of(recurring: RecurringCharge) -> list[str]:
    entries = LogEntry.objects.filter(object_id=str(recurring.pk)).order_by("pk")
    return [e.get_change_message() for e in entries]


def test_pause_resume_cancel_are_logged(manager, recurring):
    action(manager, "pause", recurring)
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.PAUSED

    response = action(manager, "resume", recurring)
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert any(
        m.startswith(f"{recurring.public_id}: Resumed.") for m in messages_of(response)
    )

    action(manager, "cancel", recurring)
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.CANCELLED
    assert [m.split(" Next run")[0] for m in log_of(recurring)] == [
        "Paused.",
        "Resumed.",
        "Cancelled.",
    ]


def test_a_refused_change_is_shown_and_not_logged(manager, recurring):
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.CANCELLED
    )

    response = action(manager, "resume", recurring)

    assert messages_of(response) == [
        f"{recurring.public_id}: A cancelled recurring charge cannot be resumed."
    ]
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.CANCELLED
    assert log_of(recurring) == []


def test_without_the_permission_no_action(viewer, recurring):
    page = viewer.get(CHANGELIST)
    assert page.status_code == 200
    assert b'value="pause"' not in page.content

    action(viewer, "pause", recurring)

    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert log_of(recurring) == []


def test_with_it_the_actions_are_offered_and_the_page_stays_read_only(
    manager, recurring
):
    content = manager.get(CHANGELIST).content
    for name in (b"pause", b"resume", b"cancel"):
        assert b'value="' + name + b'"' in content
    change = reverse("admin:payments_recurringcharge_change", args=[recurring.pk])
    before = recurring.amount
    manager.post(change, {"amount": 1, "status": "active"})
    recurring.refresh_from_db()
    assert recurring.amount == before
    add = reverse("admin:payments_recurringcharge_add")
    assert manager.get(add).status_code == 403
