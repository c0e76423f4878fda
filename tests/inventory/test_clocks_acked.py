"""A confirm's acknowledgement is stamped by the database's clock, the one a
webhook's arrival (``received_at``) is stamped by: a forward worker whose
clock runs minutes ahead no longer makes a webhook that arrived after the
acknowledgement look as if it came before it (its figure thrown away)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import WebhookEvent
from integrations.testing.clocks import machine_clock, shared_by_machines
from integrations.webhooks.services import webhook_event_process
from inventory import services
from inventory.models import ForwardOperation, SandboxErpLevel
from inventory.providers.base import StockLevelRecord
from tests.factories import ProviderAccountFactory
from tests.inventory.test_sold import _level, _run_forward, _sell, main_location  # noqa: F401
from tests.inventory.test_webhooks import _post

pytestmark = pytest.mark.django_db

SKEW = 240  # a worker whose NTP broke: four minutes ahead


def test_an_event_after_the_ack_from_a_fast_worker_is_applied(
    django_capture_on_commit_callbacks,
):
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")
    erp = ProviderAccountFactory(kind="inventory", slug="erp-hooks")
    SandboxErpLevel.objects.create(
        account=erp,
        sku="A",
        location_code="MAIN",
        on_hand=10,
        modified_at=timezone.now() - timedelta(hours=1),
    )
    services.inventory_sync(account=erp, full=True)
    sold = _sell(10, django_capture_on_commit_callbacks)
    with machine_clock(SKEW):  # the worker (and the sandbox ERP it runs)
        _run_forward(sold, ForwardOperation.RESERVE)
        _run_forward(sold, ForwardOperation.CONFIRM)
    confirmed = SandboxErpLevel.objects.get().modified_at

    # The ERP changed the level a second after the confirm, by its clock,
    # and told us: the webhook arrives after the acknowledgement.
    response = _post(
        [StockLevelRecord("A", "MAIN", 7, confirmed + timedelta(seconds=1))]
    )
    assert response.status_code < 300, response.content
    webhook_event_process(event_id=WebhookEvent.objects.order_by("-pk").first().pk)

    assert _level().on_hand == 7
