"""A bulk row whose address is suppressed and whose template fails to render
(edited since the send was created): nothing would be sent either way, and
the suppression says why, so the row's message is stored ``suppressed`` and
the row is done, as for any suppressed row. Before, the template was rendered
before the suppression was checked and the message was stored ``failed``."""

import pytest

from integrations.models import BatchRowStatus
from notifications.models import BulkRecipient, EmailMessage, EmailStatus
from notifications.services.bulk import bulk_send_counts
from notifications.services.suppressions import suppression_add
from tests.notifications.bulk_work import (
    FIRST_NAME_BODY,
    newsletter_bulk,
    newsletter_edit,
    work_bulk_job,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_batch_tasks")]


def test_a_suppressed_row_whose_template_fails_is_suppressed(
    templates, email_accounts
) -> None:
    bulk = newsletter_bulk(
        [
            {"email": "ada@example.com", "first_name": "Ada"},
            {"email": "bob@example.com"},
        ]
    )
    suppression_add(address="bob@example.com", reason="hard_bounce")
    newsletter_edit(templates, FIRST_NAME_BODY)

    work_bulk_job(bulk.job_id)

    bob = EmailMessage.objects.get(to_email="bob@example.com")
    assert bob.status == EmailStatus.SUPPRESSED
    assert bob.attempts == 0
    assert bob.events.filter(type=EmailStatus.FAILED).count() == 0
    event = bob.events.get(type=EmailStatus.SUPPRESSED)
    assert event.details["suppression"] == "Hard bounce"
    row = BulkRecipient.objects.get(bulk_send=bulk, email="bob@example.com")
    assert (row.status, row.message) == (BatchRowStatus.DONE, bob)
    assert bulk_send_counts(bulk) == {"sent": 1, "suppressed": 1}
