"""Migration 0007: endpoints stored with a repeated event type (before the
API refused one) keep each pattern once, in the order it first appeared, in
batches. Needs ``--migrations``."""

import importlib

import pytest
from django.core.management import call_command

from storefront_hooks.models import WebhookEndpoint
from tests.migration_state import migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]

BEFORE = "0006_delivery_waits_for_slot"
AFTER = "0007_endpoint_event_types_once"


def test_0007_keeps_each_event_type_once_in_first_order(
    request, make_endpoint, monkeypatch
):
    stored = [
        ["payment.*", "refund.created", "payment.*", "refund.created", "order.*"],
        ["payment.captured", "payment.captured"],
        ["payment.*"],
        ["order.*", "payment.*", "order.*"],
        ["payment.failed", "payment.failed", "payment.failed"],
    ]
    made = [make_endpoint()[0] for _ in stored]
    for endpoint, patterns in zip(made, stored, strict=True):
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(event_types=patterns)
    module = importlib.import_module(f"storefront_hooks.migrations.{AFTER}")
    monkeypatch.setattr(module, "BATCH", 2)  # three batches

    with migrated_back(request, "storefront_hooks", BEFORE):
        call_command("migrate", "storefront_hooks", AFTER, verbosity=0)

        found = [
            WebhookEndpoint.objects.values_list("event_types", flat=True).get(pk=e.pk)
            for e in made
        ]
    assert found == [
        ["payment.*", "refund.created", "order.*"],
        ["payment.captured"],
        ["payment.*"],
        ["order.*", "payment.*"],
        ["payment.failed"],
    ]
