"""intake43: ``manage.py replay_webhooks`` replays as the admin action does
(the same service), one line per event and the admin's summary; bad input is
one readable line and a non-zero exit, and replays nothing."""

from datetime import timedelta

import pytest
from django.core.management.base import CommandError
from django.utils import timezone

from integrations.models import WebhookEvent, WebhookStatus
from tests.factories import ProviderAccountFactory
from tests.integrations.intake42_helpers import (
    REFUND_EVENT,
    dead_before_the_fix,
    failed,
    run_replay,
)
from tests.platform.test_commands_odd_input import _manage, _one_line

pytestmark = pytest.mark.django_db


def test_by_ids_replays_and_recovers_one_line_each_and_a_summary(
    django_capture_on_commit_callbacks,
):
    account = ProviderAccountFactory(slug="sbx-pay")
    dead = failed(account, "msg_1")
    other = ProviderAccountFactory(slug="sbx-two")
    unusable = dead_before_the_fix(other, REFUND_EVENT, "msg_2")

    with django_capture_on_commit_callbacks(execute=True):
        out = run_replay(str(dead.pk), str(unusable.pk))

    lines = out.splitlines()
    assert lines[0] == f"#{dead.pk}: queued for replay."
    assert lines[1].startswith(f"#{unusable.pk} (unusable body): Recovered by replay")
    assert lines[2] == (
        "1 webhook event(s) queued for replay. Unusable bodies read again: "
        "1 recovered, 0 still unreadable, 0 refused."
    )
    dead.refresh_from_db()
    assert (dead.status, dead.attempts) == (WebhookStatus.PROCESSED, 1)
    assert WebhookEvent.objects.filter(account=other, dedupe_key="msg_2").exists()


def test_by_account_status_and_since_picks_only_those():
    account = ProviderAccountFactory(slug="sbx-pay")
    old = failed(account, "msg_old")
    WebhookEvent.objects.filter(pk=old.pk).update(
        received_at=timezone.now() - timedelta(days=10)
    )
    new = failed(account, "msg_new")
    processed = WebhookEvent.objects.create(
        account=account, event_type="x", dedupe_key="msg_done", payload={}
    )
    elsewhere = failed(ProviderAccountFactory(slug="sbx-other"), "msg_else")
    since = (timezone.now() - timedelta(days=1)).date().isoformat()

    out = run_replay("--account", "sbx-pay", "--status", "dead", "--since", since)

    assert out.splitlines() == [
        f"#{new.pk}: queued for replay.",
        "1 webhook event(s) queued for replay.",
    ]
    for row, status in [(old, "dead"), (processed, "received"), (elsewhere, "dead")]:
        row.refresh_from_db()
        assert row.status == status


def test_by_provider_refusals_are_said_with_their_reason():
    account = ProviderAccountFactory(slug="sbx-pay")
    row = dead_before_the_fix(account, REFUND_EVENT, "msg_1")
    account.enabled = False
    account.save()

    out = run_replay("--provider", account.provider, "--status", "dead")

    assert f"#{row.pk} (unusable body): Not read again: its account is disabled." in out
    assert "0 webhook event(s) queued" not in out
    assert f"1 refused (#{row.pk}: its account is disabled)." in out


def test_nothing_matching_says_so():
    ProviderAccountFactory(slug="sbx-pay")
    assert run_replay("--account", "sbx-pay", "--status", "dead") == (
        "No webhook events match.\n"
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ((), "Name the events"),
        (("abc",), "Event id must be a whole number, not 'abc'."),
        (("0",), "Event id must be from 1 to"),
        (("9" * 30,), "Event id must be from 1 to"),
        (("424242",), "No webhook event #424242; nothing replayed."),
        (("1", "--status", "dead"), "not both"),
        (("--account", "sbx-pay"), "--status is needed"),
        (("--account", "nope", "--status", "dead"), "No provider account 'nope'."),
        (("--provider", "nope", "--status", "dead"), "No account of provider 'nope'."),
        (("--account", "sbx-pay", "--status", "odd"), "Unknown status 'odd'"),
        (("--account", "sbx-pay", "--status", "dead", "--since", "x"), "--since"),
        (
            ("--account", "sbx-pay", "--status", "dead", "--since", "2026-02-30"),
            "--since must be a date",
        ),
        (
            ("--account", "sbx-pay", "--status", "dead", "--limit", "-1"),
            "--limit must be from 1 to",
        ),
    ],
)
def test_bad_input_is_one_readable_error_and_replays_nothing(args, said):
    account = ProviderAccountFactory(slug="sbx-pay")
    row = failed(account, "msg_1")
    with pytest.raises(CommandError) as caught:
        run_replay(*args)
    assert said in str(caught.value)
    row.refresh_from_db()
    assert row.status == WebhookStatus.DEAD


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_from_the_shell_bad_input_is_one_line_and_exit_1():
    result = _manage("replay_webhooks", "--account", "nope", "--status", "dead")
    assert result.returncode == 1
    assert _one_line(result) == "CommandError: No provider account 'nope'."
