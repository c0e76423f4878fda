"""intake44: ``manage.py replay_webhooks`` leaves the history the admin's
replay leaves (an unusable row's outcome, in its admin history: by the
command and the OS user, or by the staff account --user names), and reads
``--since`` in the project's TIME_ZONE unless it carries an offset."""

from datetime import UTC, datetime

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management.base import CommandError
from django.urls import reverse

from integrations.models import WebhookStatus
from tests.factories import ProviderAccountFactory
from tests.integrations.intake42_helpers import (
    assert_since_picks,
    dead_before_the_fix,
    failed,
    failed_at,
    run_replay,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def os_user(monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "ops-alice")
    return "ops-alice"


def test_a_replay_from_the_command_is_in_the_rows_admin_history(staff, os_user):
    row = dead_before_the_fix(ProviderAccountFactory(slug="sbx-pay"))

    run_replay(str(row.pk))

    entry = LogEntry.objects.get(object_id=str(row.pk))
    text = entry.get_change_message()
    assert "Recovered by replay" in text
    assert "manage.py replay_webhooks" in text
    assert "OS user ops-alice" in text
    # No Django user ran it: the command's own account, which cannot log in.
    assert entry.user.get_username() == "manage.py replay_webhooks"
    assert not entry.user.is_active
    assert not entry.user.has_usable_password()
    assert not entry.user.is_staff
    # What staff see on the row's history page.
    url = reverse("admin:integrations_webhookevent_history", args=[row.pk])
    page = staff.get(url).content.decode()
    assert "OS user ops-alice" in page
    assert "manage.py replay_webhooks" in page


def test_the_commands_account_is_made_once(os_user):
    account = ProviderAccountFactory(slug="sbx-pay")
    first = dead_before_the_fix(account)
    second = dead_before_the_fix(
        ProviderAccountFactory(slug="sbx-two"), b"[2]", "msg_2"
    )

    run_replay(str(first.pk))
    run_replay(str(second.pk))

    users = {e.user_id for e in LogEntry.objects.all()}
    assert len(users) == 1


def test_user_names_the_staff_account_it_is_recorded_as(django_user_model, os_user):
    bob = django_user_model.objects.create_superuser("bob", "b@example.com", "pw")
    row = dead_before_the_fix(ProviderAccountFactory(slug="sbx-pay"))

    run_replay(str(row.pk), "--user", "bob")

    entry = LogEntry.objects.get(object_id=str(row.pk))
    assert entry.user == bob
    assert "manage.py replay_webhooks" in entry.get_change_message()
    assert "OS user ops-alice" in entry.get_change_message()


def test_a_row_recovered_before_is_not_recovered_twice(os_user):
    # As in the admin: the second replay changes nothing, and its entry
    # (every replayed event has one, hooks45) says so.
    row = dead_before_the_fix(ProviderAccountFactory(slug="sbx-pay"))
    run_replay(str(row.pk))
    run_replay(str(row.pk))
    entries = LogEntry.objects.filter(object_id=str(row.pk)).order_by("pk")
    first, second = (e.get_change_message() for e in entries)
    assert "Recovered by replay" in first
    assert "Already recovered earlier" in second


def _bob(django_user_model, **fields):
    return django_user_model.objects.create_user("bob", "b@example.com", "pw", **fields)


@pytest.mark.parametrize(
    ("user", "said"),
    [
        (None, "No staff user 'bob'."),
        ({"is_staff": False}, "No staff user 'bob'."),
        ({"is_staff": True, "is_active": False}, "No staff user 'bob'."),
        ({"is_staff": True}, "User 'bob' may not replay webhook events"),
    ],
)
def test_a_user_who_may_not_replay_is_refused_and_nothing_replayed(
    django_user_model, user, said
):
    if user is not None:
        _bob(django_user_model, **user)
    row = dead_before_the_fix(ProviderAccountFactory(slug="sbx-pay"))

    with pytest.raises(CommandError) as caught:
        run_replay(str(row.pk), "--user", "bob")

    assert said in str(caught.value)
    row.refresh_from_db()
    assert row.status == WebhookStatus.DEAD
    assert not LogEntry.objects.exists()


# --since, in Europe/Berlin (UTC+1 in December).
@pytest.mark.parametrize(
    "since", ["2026-12-01", "2026-12-01T00:00", "2026-12-01 00:00:00"]
)
def test_since_without_an_offset_is_read_in_the_time_zone(settings, since):
    # 23:30 on 30 November in Berlin, and 00:30 on 1 December.
    assert_since_picks(
        settings,
        "Europe/Berlin",
        since,
        datetime(2026, 11, 30, 22, 30, tzinfo=UTC),
        datetime(2026, 11, 30, 23, 30, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("since", "picked"),
    [("2026-12-01T00:00Z", ["msg_3"]), ("2026-12-01T00:00+02:00", ["msg_2", "msg_3"])],
)
def test_since_with_an_offset_is_read_as_it_says(settings, since, picked):
    settings.TIME_ZONE = "Europe/Berlin"
    account = ProviderAccountFactory(slug="sbx-pay")
    times = {
        "msg_1": datetime(2026, 11, 30, 21, 30, tzinfo=UTC),
        "msg_2": datetime(2026, 11, 30, 22, 30, tzinfo=UTC),
        "msg_3": datetime(2026, 12, 1, 0, 30, tzinfo=UTC),
    }
    rows = {key: failed_at(account, key, at) for key, at in times.items()}

    out = run_replay("--account", "sbx-pay", "--status", "dead", "--since", since)

    queued = [key for key, row in rows.items() if f"#{row.pk}: queued" in out]
    assert queued == picked


@pytest.mark.parametrize("since", ["0001-01-01", "9999-12-31T23:59-01:00", "x"])
def test_since_out_of_range_or_unreadable_is_one_error(settings, since):
    settings.TIME_ZONE = "Europe/Berlin"
    row = failed(ProviderAccountFactory(slug="sbx-pay"), "msg_1")
    with pytest.raises(CommandError, match="--since"):
        run_replay("--account", "sbx-pay", "--status", "dead", "--since", since)
    row.refresh_from_db()
    assert row.status == WebhookStatus.DEAD
