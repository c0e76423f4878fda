"""SendGrid's Event Webhook lists ``group_resubscribe`` among its event types
(oai.json, /user/webhooks/event/settings) beside ``group_unsubscribe``. We
read the unsubscribe as a stop and dropped the resubscribe silently: the
recipient opted back in to the group at SendGrid and stayed suppressed
here for good. A resubscribe is a reactivation of that unsubscribe group's
list: it lifts what that account's unsubscribe from the same group put
here, and nothing else (a global unsubscribe, a bounce, another group's
stop, another account's)."""

from datetime import timedelta

import pytest

from integrations.models import ProviderAccount, WebhookStatus
from notifications.models import Suppression
from tests.notifications.contract.harness_sendgrid import event, make_account
from tests.notifications.sendgrid_hooks import (
    processed_rows,
    sendgrid_account,  # noqa: F401 (the ``sendgrid`` fixture)
    signed_post,
)

pytestmark = pytest.mark.django_db

ADDRESS = "recipient@example.com"
STOPPED_AT = 1_700_000_000


def _post(account: ProviderAccount, events: list) -> None:
    assert signed_post(account, events).status_code == 200
    for row in processed_rows(account):
        assert row.status == WebhookStatus.PROCESSED, row.last_error


def _group(name: str, *, at: int, group: int = 42, key: str = "") -> dict:
    return event(
        name,
        timestamp=at,
        asm_group_id=group,
        sg_event_id=key or f"{name}-{group}-{at}",
    )


def _active() -> Suppression | None:
    return Suppression.objects.filter(address=ADDRESS, removed_at__isnull=True).first()


def test_a_group_resubscribe_lifts_that_groups_unsubscribe(sendgrid) -> None:
    _post(sendgrid, [_group("group_unsubscribe", at=STOPPED_AT)])
    assert _active().reason == "unsubscribe"
    _post(sendgrid, [_group("group_resubscribe", at=STOPPED_AT + 60)])
    assert _active() is None


def test_a_resubscribe_older_than_the_unsubscribe_lifts_nothing(sendgrid) -> None:
    _post(sendgrid, [_group("group_unsubscribe", at=STOPPED_AT)])
    _post(sendgrid, [_group("group_resubscribe", at=STOPPED_AT - 60)])
    assert _active().reason == "unsubscribe"


def test_a_late_unsubscribe_older_than_the_resubscribe_stops_nothing(
    sendgrid,
) -> None:
    # Delivered out of order: the resubscribe at 10:01 came first.
    _post(sendgrid, [_group("group_resubscribe", at=STOPPED_AT + 60)])
    _post(sendgrid, [_group("group_unsubscribe", at=STOPPED_AT)])
    assert _active() is None


def test_another_groups_resubscribe_lifts_nothing(sendgrid) -> None:
    _post(sendgrid, [_group("group_unsubscribe", at=STOPPED_AT, group=42)])
    _post(sendgrid, [_group("group_resubscribe", at=STOPPED_AT + 60, group=7)])
    assert _active().reason == "unsubscribe"


@pytest.mark.parametrize(
    ("name", "reason"), [("unsubscribe", "unsubscribe"), ("bounce", "hard_bounce")]
)
def test_a_group_resubscribe_never_lifts_a_global_stop(sendgrid, name, reason) -> None:
    stop = event(name, timestamp=STOPPED_AT, sg_event_id=f"{name}-g", email=ADDRESS)
    _post(sendgrid, [stop])
    _post(sendgrid, [_group("group_resubscribe", at=STOPPED_AT + 60)])
    assert _active().reason == reason


def test_another_accounts_resubscribe_lifts_nothing(sendgrid) -> None:
    _post(sendgrid, [_group("group_unsubscribe", at=STOPPED_AT)])
    other = make_account()
    _post(other, [_group("group_resubscribe", at=STOPPED_AT + 60)])
    assert _active().reason == "unsubscribe"


def test_a_group_resubscribe_naming_no_group_lifts_nothing(sendgrid) -> None:
    _post(sendgrid, [_group("group_unsubscribe", at=STOPPED_AT)])
    resubscribe = event("group_resubscribe", timestamp=STOPPED_AT + 60)
    del resubscribe["asm_group_id"]
    # Stored dead with its error (test_revship21_sendgrid_no_group).
    assert signed_post(sendgrid, [resubscribe]).status_code == 200
    dead = [r for r in processed_rows(sendgrid) if r.status == WebhookStatus.DEAD]
    assert len(dead) == 1
    assert "asm_group_id" in dead[0].last_error
    assert _active().reason == "unsubscribe"


def test_the_lifted_stop_keeps_its_history(sendgrid) -> None:
    _post(sendgrid, [_group("group_unsubscribe", at=STOPPED_AT)])
    _post(sendgrid, [_group("group_resubscribe", at=STOPPED_AT + 60)])
    lifted = Suppression.objects.get(address=ADDRESS, reason="unsubscribe")
    assert lifted.removed_at is not None
    assert lifted.stream == "asm_group:42"
    assert lifted.reactivated_at - lifted.occurred_at == timedelta(seconds=60)
