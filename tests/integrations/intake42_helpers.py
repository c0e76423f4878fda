"""intake42: storing a signed webhook dead as an unusable body "before a fix"
(its adapter's reading made to fail), and recovering it by staff's replay."""

import json
import time
from contextlib import contextmanager
from datetime import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from integrations.models import ProviderAccount, WebhookEvent, WebhookStatus
from integrations.registry import get_adapter
from integrations.webhooks.verification import signed_headers
from tests.contract.sandbox import SECRET
from tests.factories import ProviderAccountFactory

UNUSABLE = "(unusable body)"
# An event every sandbox account reads (its replay queues it again).
REFUND_EVENT = json.dumps({"type": "refund.updated", "data": {}}).encode()


def standard(body: bytes, webhook_id: str = "msg_1", secret: str = SECRET) -> dict:
    """Standard Webhooks headers for ``Client().post``."""
    raw = signed_headers(
        secret=secret, webhook_id=webhook_id, body=body, timestamp=int(time.time())
    )
    return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in raw.items()}


def post(account: ProviderAccount, body: bytes, *, query: str = "", **headers):
    return Client().post(
        f"/webhooks/{account.slug}/{query}",
        data=body,
        content_type="application/json",
        **headers,
    )


@contextmanager
def broken_reader(account: ProviderAccount):
    """The account's adapter cannot read any body (the bug a fix removes)."""

    def fail(self, request, verified):
        raise ValueError("a parser bug")

    cls = type(get_adapter(account))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cls, "webhook_message", fail)
        yield


def stored_dead(account: ProviderAccount) -> WebhookEvent:
    row = WebhookEvent.objects.get(account=account, event_type=UNUSABLE)
    assert row.status == WebhookStatus.DEAD, row.last_error
    return row


def replay(client: Client, row: WebhookEvent) -> str:
    """Staff's replay button on the row's page: the messages shown."""
    url = reverse("admin:integrations_webhookevent_replay", args=[row.pk])
    return client.post(url, follow=True).content.decode()


def recovered(account: ProviderAccount) -> list[WebhookEvent]:
    """The account's events other than unusable rows."""
    return list(
        WebhookEvent.objects.filter(account=account)
        .exclude(event_type=UNUSABLE)
        .order_by("pk")
    )


def dead_before_the_fix(
    account: ProviderAccount,
    body: bytes = REFUND_EVENT,
    webhook_id: str = "msg_1",
    **headers: str,
) -> WebhookEvent:
    """``body`` received while the adapter could not read it: the row stored
    dead as unusable. Signed with Standard Webhooks unless ``headers`` say."""
    with broken_reader(account):
        response = post(account, body, **(headers or standard(body, webhook_id)))
    assert response.status_code == 200, response.content
    return stored_dead(account)


def received(
    account: ProviderAccount, webhook_id: str, body: bytes = REFUND_EVENT
) -> WebhookEvent:
    """A readable event, signed and stored (not processed: no on-commit)."""
    post(account, body, **standard(body, webhook_id))
    return WebhookEvent.objects.get(account=account, dedupe_key=webhook_id)


def failed(
    account: ProviderAccount, webhook_id: str, body: bytes = REFUND_EVENT
) -> WebhookEvent:
    """A readable event stored, then dead after its attempts ran out."""
    row = received(account, webhook_id, body)
    WebhookEvent.objects.filter(pk=row.pk).update(
        status=WebhookStatus.DEAD, attempts=5, last_error="boom"
    )
    return row


def failed_at(account: ProviderAccount, webhook_id: str, at: datetime) -> WebhookEvent:
    """``failed``, received at ``at`` (for ``--since``)."""
    row = failed(account, webhook_id)
    WebhookEvent.objects.filter(pk=row.pk).update(received_at=at)
    return row


def run_replay(*args: str) -> str:
    """``manage.py replay_webhooks``' output."""
    out = StringIO()
    call_command("replay_webhooks", *args, stdout=out)
    return out.getvalue()


def assert_since_picks(
    settings, zone: str, since: str, before_at: datetime, after_at: datetime
) -> None:
    """``replay_webhooks --since`` read in ``zone``: of two dead events
    received at ``before_at`` and ``after_at``, only the later is replayed."""
    settings.TIME_ZONE = zone
    account = ProviderAccountFactory(slug="sbx-pay")
    before = failed_at(account, "msg_1", before_at)
    after = failed_at(account, "msg_2", after_at)

    out = run_replay("--account", "sbx-pay", "--status", "dead", "--since", since)

    assert f"#{after.pk}: queued for replay." in out
    assert f"#{before.pk}" not in out
