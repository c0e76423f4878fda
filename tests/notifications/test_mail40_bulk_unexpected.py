"""A bulk row whose send raises an error that is no provider outcome (an
adapter's bug): as a single send does, its message is ``unknown`` at once
with the cause kept (``unexpected_error``), and the row fails for good with
it, not retried to be called "worker lost" later with the cause gone."""

import pytest

from integrations.batch import WorkState, batch_job_work
from integrations.batch import services as batch_services
from integrations.models import BatchRowStatus
from notifications.models import BulkRecipient, EmailMessage, EmailStatus
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services.bulk import bulk_send_create

pytestmark = pytest.mark.django_db


def test_an_unexpected_error_is_kept_on_the_bulk_message_and_its_row(
    email_accounts, monkeypatch
) -> None:
    monkeypatch.setattr(batch_services, "async_task", lambda *a, **kw: None)
    monkeypatch.setattr(batch_services, "schedule", lambda *a, **kw: None)

    def broken(self, outbound, **kwargs):
        raise TypeError("the adapter broke")

    monkeypatch.setattr(SandboxEmailAdapter, "send", broken)
    bulk = bulk_send_create(
        template="newsletter",
        context={"headline": "Hi", "body": "News."},
        recipients=[{"email": "ada@example.com"}],
    ).bulk_send

    result = batch_job_work(job_id=bulk.job_id, budget_seconds=0)

    assert result.state != WorkState.MORE
    message = EmailMessage.objects.get()
    assert message.status == EmailStatus.UNKNOWN
    assert message.error_code == "unexpected_error"
    assert message.last_error == "TypeError: the adapter broke"
    assert list(message.events.values_list("type", flat=True)) == [
        EmailStatus.SENDING,
        EmailStatus.UNKNOWN,
    ]
    row = BulkRecipient.objects.get(bulk_send=bulk)
    assert row.status == BatchRowStatus.FAILED
    assert "the adapter broke" in row.last_error
