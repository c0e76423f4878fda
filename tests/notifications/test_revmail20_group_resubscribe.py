"""Review of mail20's SendGrid ``group_resubscribe``. What it must never
lift (a complaint, another account's or group's stop, a global unsubscribe
under it), in any order, replays included; and what it lifted must not come
back: a group unsubscribe that a hard bounce replaced, then resubscribed
at SendGrid, was restored as soon as staff lifted the bounce (the
unsubscribe a lifted stop had replaced comes back, and nothing told it the
provider had lifted it since)."""

import pytest
from django.test import Client

from integrations.models import ProviderAccount, WebhookEvent, WebhookStatus
from integrations.webhooks.services import webhook_event_process, webhook_events_replay
from notifications.models import Suppression
from notifications.services.suppressions import suppression_remove
from tests.notifications.contract import harness_postmark as postmark
from tests.notifications.contract.harness_sendgrid import event, make_account
from tests.notifications.sendgrid_hooks import (
    processed_rows,
    sendgrid_account,  # noqa: F401 (the ``sendgrid`` fixture)
    signed_post,
)

pytestmark = pytest.mark.django_db

ADDRESS = "recipient@example.com"
AT = 1_700_000_000


def _post(account: ProviderAccount, events: list) -> None:
    assert signed_post(account, events).status_code == 200
    for row in processed_rows(account):
        assert row.status == WebhookStatus.PROCESSED, row.last_error


def _group(name: str, *, at: int, group: int = 42) -> dict:
    return event(
        name, timestamp=at, asm_group_id=group, sg_event_id=f"{name}-{group}-{at}"
    )


def _stop(name: str, *, at: int) -> dict:
    return event(name, timestamp=at, sg_event_id=f"{name}-{at}", email=ADDRESS)


def _active() -> Suppression | None:
    return Suppression.objects.filter(address=ADDRESS, removed_at__isnull=True).first()


def _replay(account: ProviderAccount, key: str) -> None:
    row = WebhookEvent.objects.get(account=account, dedupe_key=key)
    assert webhook_events_replay(event_ids=[row.pk]) == 1
    webhook_event_process(event_id=row.pk)
    row.refresh_from_db()
    assert row.status == WebhookStatus.PROCESSED, row.last_error


def test_a_resubscribed_group_stop_is_not_restored_when_staff_lift_a_bounce(
    sendgrid,
) -> None:
    _post(sendgrid, [_group("group_unsubscribe", at=AT)])
    _post(sendgrid, [_stop("bounce", at=AT + 10)])
    assert _active().reason == "hard_bounce"
    # The recipient opted back in to the group; the bounce still stands.
    _post(sendgrid, [_group("group_resubscribe", at=AT + 20)])
    assert _active().reason == "hard_bounce"
    suppression_remove(address=ADDRESS, reason="mailbox fixed, checked by phone")
    assert _active() is None


def test_a_group_stop_newer_than_the_resubscribe_is_still_restored(sendgrid) -> None:
    _post(sendgrid, [_group("group_resubscribe", at=AT)])
    _post(sendgrid, [_group("group_unsubscribe", at=AT + 10)])
    _post(sendgrid, [_stop("bounce", at=AT + 20)])
    suppression_remove(address=ADDRESS, reason="mailbox fixed")
    assert (_active().reason, _active().stream) == ("unsubscribe", "asm_group:42")


def test_a_complaint_over_the_group_stop_is_never_lifted(sendgrid) -> None:
    _post(sendgrid, [_group("group_unsubscribe", at=AT)])
    _post(sendgrid, [_stop("spamreport", at=AT + 10)])
    _post(sendgrid, [_group("group_resubscribe", at=AT + 20)])
    assert _active().reason == "complaint"
    assert _active().absorbed == []


def test_a_global_unsubscribe_under_the_group_stop_comes_back(sendgrid) -> None:
    _post(sendgrid, [_group("group_unsubscribe", at=AT)])
    _post(sendgrid, [_stop("unsubscribe", at=AT + 10)])
    _post(sendgrid, [_group("group_resubscribe", at=AT + 20)])
    active = _active()
    assert (active.reason, active.stream) == ("unsubscribe", "")


def test_the_same_second_resolves_alike_in_either_order(sendgrid) -> None:
    _post(sendgrid, [_group("group_unsubscribe", at=AT)])
    _post(sendgrid, [_group("group_resubscribe", at=AT)])
    first = _active()
    Suppression.objects.all().delete()
    other = make_account()
    _post(other, [_group("group_resubscribe", at=AT)])
    _post(other, [_group("group_unsubscribe", at=AT)])
    assert (first, _active()) == (None, None)


def test_replays_of_both_keep_the_provider_order(sendgrid) -> None:
    _post(sendgrid, [_group("group_unsubscribe", at=AT)])
    _post(sendgrid, [_group("group_resubscribe", at=AT + 10)])
    _post(sendgrid, [_group("group_unsubscribe", at=AT + 20)])
    # Staff replay the older two: the newest stop stands.
    _replay(sendgrid, f"group_resubscribe-42-{AT + 10}")
    _replay(sendgrid, f"group_unsubscribe-42-{AT}")
    active = _active()
    assert active.occurred_at.timestamp() == AT + 20
    # Replaying the first stop once the resubscribe lifted it stops nothing.
    _post(sendgrid, [_group("group_resubscribe", at=AT + 30)])
    _replay(sendgrid, f"group_unsubscribe-42-{AT + 20}")
    assert _active() is None


def test_postmark_stream_reactivation_ends_the_unsubscribe_a_bounce_replaced() -> None:
    # The same on Postmark's broadcast stream: its reactivation lifts the
    # bounce and the recipient's earlier unsubscribe from that list alike.
    account = postmark.make_account()
    account.settings = {**account.settings, "broadcast_stream": "broadcast"}
    account.save()
    on_list = {"MessageStream": "broadcast", "Recipient": ADDRESS}
    unsubscribe = postmark.event("unsubscribe", **on_list)
    bounce = postmark.event(
        "bounce_hard", **on_list, Email=ADDRESS, BouncedAt="2022-06-05T18:00:00Z"
    )
    resubscribe = postmark.event("resubscribe", **on_list)
    for payload in (unsubscribe, bounce, resubscribe):
        hook = postmark.posted(payload)
        response = Client().post(
            f"/webhooks/{account.slug}/",
            data=hook.body,
            content_type="application/json",
            headers={"Authorization": hook.headers["Authorization"]},
        )
        assert response.status_code == 200
        for row in WebhookEvent.objects.filter(account=account):
            webhook_event_process(event_id=row.pk)
    assert _active() is None
