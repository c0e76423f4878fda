"""An ERP account staff disabled is not synced from "Sync now" either: a
page opened before another staff member disabled it (or a crafted form)
still posts its id."""

import pytest
from django.urls import reverse

from inventory.models import SyncRun
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


def test_sync_now_of_a_disabled_account_is_refused(
    admin_client, django_capture_on_commit_callbacks
):
    erp = ProviderAccountFactory(kind="inventory", slug="erp-off", enabled=False)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:inventory_syncrun_sync_now"),
            {"account": erp.pk},
            follow=True,
        )
    assert response.status_code == 200
    assert "erp-off" in response.content.decode()
    assert "disabled" in response.content.decode()
    assert not SyncRun.objects.exists()
