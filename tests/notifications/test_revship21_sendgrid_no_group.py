"""A SendGrid group event always names its unsubscribe group (the Event
Webhook sends ``asm_group_id`` with every ``group_unsubscribe`` and
``group_resubscribe``). One naming none (the key absent, or null) was read
differently from one naming group 0: a ``group_unsubscribe`` was applied as
a stop on no list, which no ``group_resubscribe`` of the recipient's real
group could ever lift, and a ``group_resubscribe`` was marked processed with
nothing said. Like group 0, it names no group: stored ``malformed`` with its
error and dead, never applied; the batch's other events still are."""

import pytest

from integrations.models import ProviderAccount, WebhookEvent, WebhookStatus
from integrations.webhooks.services import webhook_event_process, webhook_events_replay
from notifications.models import Suppression
from notifications.providers.sendgrid import MALFORMED
from tests.notifications.contract.harness_sendgrid import event
from tests.notifications.sendgrid_hooks import (
    processed_rows,
    sendgrid_account,  # noqa: F401 (the ``sendgrid`` fixture)
    signed_post,
)

pytestmark = pytest.mark.django_db

ADDRESS = "recipient@example.com"
AT = 1_700_000_000
EVENTS = ["group_unsubscribe", "group_resubscribe"]


def _no_group(name: str, *, null: bool, at: int = AT) -> dict:
    payload = event(name, timestamp=at, email=ADDRESS, sg_event_id=f"{name}-{at}")
    if null:
        payload["asm_group_id"] = None
    else:
        del payload["asm_group_id"]
    return payload


def _post(account: ProviderAccount, events: list) -> list[WebhookEvent]:
    assert signed_post(account, events).status_code == 200
    return processed_rows(account)


@pytest.mark.parametrize("null", [False, True], ids=["absent", "null"])
@pytest.mark.parametrize("name", EVENTS)
def test_a_group_event_naming_no_group_is_stored_dead(sendgrid, name, null) -> None:
    (row,) = _post(sendgrid, [_no_group(name, null=null)])
    assert row.event_type == MALFORMED
    assert row.status == WebhookStatus.DEAD
    assert "asm_group_id" in row.last_error
    assert not Suppression.objects.exists()


def test_the_batch_s_other_events_are_applied(sendgrid) -> None:
    good = event(
        "group_unsubscribe",
        timestamp=AT + 1,
        email=ADDRESS,
        asm_group_id=7,
        sg_event_id="good",
    )
    rows = _post(sendgrid, [_no_group("group_unsubscribe", null=False), good])
    assert sorted(row.status for row in rows) == sorted(
        [WebhookStatus.DEAD, WebhookStatus.PROCESSED]
    )
    (stop,) = Suppression.objects.filter(removed_at__isnull=True)
    assert stop.stream == "asm_group:7"


def test_a_row_stored_before_the_rule_is_dead_when_replayed(sendgrid) -> None:
    bad = _no_group("group_unsubscribe", null=False)
    row = WebhookEvent.objects.create(
        account=sendgrid,
        event_type="group_unsubscribe",
        dedupe_key=bad["sg_event_id"],
        payload=bad,
        headers={},
    )
    assert webhook_events_replay(event_ids=[row.pk]) == 1
    webhook_event_process(event_id=row.pk)
    row.refresh_from_db()
    assert row.status == WebhookStatus.DEAD
    assert "asm_group_id" in row.last_error
    assert not Suppression.objects.exists()
