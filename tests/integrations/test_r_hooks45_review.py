"""r-hooks45: an outside review of hooks45 (replay history per event, the
command's account in the admin, the body-encoding refusal)."""

import tracemalloc

import pytest
from django.contrib.admin.models import LogEntry

from integrations.models import WebhookEvent, WebhookStatus
from tests.factories import ProviderAccountFactory
from tests.integrations.intake42_helpers import REFUND_EVENT, failed, run_replay

pytestmark = pytest.mark.django_db

BODY_BYTES = 1_000_000


def _dead_events(count: int) -> list[int]:
    """``count`` dead events of one account, each with a 1 MB body."""
    account = ProviderAccountFactory(slug="sbx-pay")
    row = failed(account, "msg_0")
    body = REFUND_EVENT[:-1] + b', "pad": "' + b"a" * BODY_BYTES + b'"}'
    WebhookEvent.objects.bulk_create(
        WebhookEvent(
            account=account,
            event_type=row.event_type,
            dedupe_key=f"msg_big_{i}",
            raw_body=body,
            headers=row.headers,
            payload=row.payload,
            status=WebhookStatus.DEAD,
            attempts=5,
        )
        for i in range(count)
    )
    return list(WebhookEvent.objects.values_list("pk", flat=True))


def test_a_large_replays_history_does_not_hold_every_body_in_memory():
    # A run may replay 100,000 rows of up to WEBHOOK_MAX_BYTES each: the
    # history needs each row's id and name, never its body.
    ids = _dead_events(40)
    tracemalloc.start()
    try:
        run_replay("--account", "sbx-pay", "--status", "dead")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert LogEntry.objects.count() == len(ids)
    assert peak < 10 * BODY_BYTES, f"{peak / 1e6:.0f} MB"
