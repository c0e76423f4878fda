"""SendGrid's ``asm_group_id`` is an integer of at least 1 (oai.json:
``"type": "integer", "minimum": 1``). A group event naming 0, a negative
group or one that is not an integer names no unsubscribe group: it is
stored as ``malformed`` with its error and dead when processed (as any
event the intake cannot read), never applied to an address. A row stored
before this rule, replayed, is dead too."""

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
BAD_GROUPS = [0, -1, -42, "42", 4.5, True]
IDS = ["zero", "minus-one", "negative", "string", "float", "bool"]
EVENTS = ["group_unsubscribe", "group_resubscribe"]


def _group(name: str, group: object, *, at: int = AT) -> dict:
    return event(
        name,
        timestamp=at,
        email=ADDRESS,
        asm_group_id=group,
        sg_event_id=f"{name}-{group}-{at}",
    )


def _post(account: ProviderAccount, events: list) -> list[WebhookEvent]:
    assert signed_post(account, events).status_code == 200
    return processed_rows(account)


@pytest.mark.parametrize("name", EVENTS)
@pytest.mark.parametrize("group", BAD_GROUPS, ids=IDS)
def test_a_group_event_naming_no_valid_group_is_stored_dead(
    sendgrid, name, group
) -> None:
    (row,) = _post(sendgrid, [_group(name, group)])
    assert row.event_type == MALFORMED
    assert row.status == WebhookStatus.DEAD
    assert "asm_group_id" in row.last_error
    assert not Suppression.objects.exists()


def test_the_batch_s_other_events_are_applied(sendgrid) -> None:
    rows = _post(
        sendgrid,
        [_group("group_unsubscribe", 0), _group("group_unsubscribe", 7, at=AT + 1)],
    )
    assert [row.status for row in rows].count(WebhookStatus.DEAD) == 1
    (stop,) = Suppression.objects.filter(removed_at__isnull=True)
    assert stop.stream == "asm_group:7"


def test_a_resubscribe_to_group_zero_lifts_nothing(sendgrid) -> None:
    _post(sendgrid, [_group("group_unsubscribe", 5)])
    _post(sendgrid, [_group("group_resubscribe", 0, at=AT + 10)])
    (stop,) = Suppression.objects.filter(removed_at__isnull=True)
    assert stop.stream == "asm_group:5"


def test_a_row_stored_before_the_rule_is_dead_when_replayed(sendgrid) -> None:
    # As the intake stored it before: under its own type, not malformed.
    bad = _group("group_unsubscribe", 0)
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


def test_a_valid_group_is_still_applied(sendgrid) -> None:
    (row,) = _post(sendgrid, [_group("group_unsubscribe", 1)])
    assert row.status == WebhookStatus.PROCESSED, row.last_error
    (stop,) = Suppression.objects.all()
    assert stop.stream == "asm_group:1"
