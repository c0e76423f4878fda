"""A webhook routed to another kind's handler (SWITCHYARD_WEBHOOK_HANDLERS, or
an adapter's ``webhook_handler``, names the wrong one) is a configuration
error no retry can fix: the row is stored dead at once with an error that
says what is misrouted, logged once at ERROR, and without secrets."""

import pytest

from tests.factories import ProviderAccountFactory, WebhookEventFactory
from tests.integrations.dead_webhooks import (  # noqa: F401 (autouse fixture)
    dead_at_once,
    webhook_retry_settings,
)

pytestmark = pytest.mark.django_db

SECRET = "sbx_live_misrouted_secret_42"
HANDLERS = {
    "payments": "payments.webhooks.payment_webhook_handle",
    "shipping": "shipping.webhooks.tracking_webhook_handle",
    "inventory": "inventory.webhooks.inventory_webhook_handle",
    "email": "notifications.webhooks.email_webhook_handle",
}
# (the account's kind, the other kind whose handler it is routed to)
MISROUTES = [
    ("shipping", "payments"),
    ("payments", "shipping"),
    ("payments", "inventory"),
    ("payments", "email"),
]


def _misrouted(settings, kind: str, handler_kind: str):
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {kind: {"*": HANDLERS[handler_kind]}}
    account = ProviderAccountFactory(
        kind=kind,
        slug=f"sbx-{kind}",
        credentials={"api_key": SECRET, "webhook_secret": SECRET},
    )
    return WebhookEventFactory(account=account, event_type="inventory.updated")


@pytest.mark.parametrize(("kind", "handler_kind"), MISROUTES)
def test_a_misrouted_event_is_dead_at_once(settings, caplog, kind, handler_kind):
    event = _misrouted(settings, kind, handler_kind)
    event = dead_at_once(event, caplog, SECRET)
    assert HANDLERS[handler_kind] in event.last_error
    assert f"'{kind}'" in event.last_error and "sbx-" + kind in event.last_error
    assert "SWITCHYARD_WEBHOOK_HANDLERS" in event.last_error
