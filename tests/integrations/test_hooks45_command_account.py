"""hooks45: ``manage.py replay_webhooks``' own account holds every run's
admin history, and Django deletes a user's history with the user. The admin
refuses to delete that account, and its delete page says why; other
accounts delete as Django deletes them."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.factories import ProviderAccountFactory
from tests.integrations.intake42_helpers import failed, run_replay

pytestmark = pytest.mark.django_db

COMMAND_USER = "manage.py replay_webhooks"


@pytest.fixture
def command_account():
    row = failed(ProviderAccountFactory(slug="sbx-pay"), "msg_1")
    run_replay(str(row.pk))
    user = get_user_model().objects.get(username=COMMAND_USER)
    assert LogEntry.objects.filter(user=user).count() == 1
    return user


def _kept(user) -> None:
    assert get_user_model().objects.filter(pk=user.pk).exists()
    assert LogEntry.objects.filter(user=user).count() == 1


def test_its_delete_page_says_why_it_cannot_be_deleted(staff, command_account):
    url = reverse("admin:auth_user_delete", args=[command_account.pk])

    page = staff.get(url).content.decode()
    staff.post(url, {"post": "yes"})

    assert "holds the admin history of every replay_webhooks run" in page
    _kept(command_account)


def test_the_bulk_delete_action_keeps_it_too(staff, command_account):
    url = reverse("admin:auth_user_changelist")
    form = {"action": "delete_selected", "_selected_action": [command_account.pk]}

    page = staff.post(url, form).content.decode()
    staff.post(url, {**form, "post": "yes"})

    assert "holds the admin history of every replay_webhooks run" in page
    _kept(command_account)


def test_a_staff_account_deletes_as_django_deletes_it(staff, django_user_model):
    bob = django_user_model.objects.create_user("bob", is_staff=True)
    url = reverse("admin:auth_user_delete", args=[bob.pk])
    staff.post(url, {"post": "yes"})
    assert not django_user_model.objects.filter(pk=bob.pk).exists()
