"""A bulk send's row whose template fails to render when it is sent (the
template edited after the send was created, to use a variable that row's
data lacks): the row's message is stored ``failed`` with the template's code
and text, as a single send's is, so staff find it in the email log; the row
fails for good and the rest of the send goes on."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from integrations.models import BatchRowStatus
from notifications.models import BulkRecipient, EmailMessage, EmailStatus
from notifications.services.bulk import bulk_send_counts
from notifications.services.failures import public_error
from tests.notifications.bulk_work import (
    FIRST_NAME_BODY,
    newsletter_bulk,
    newsletter_edit,
    work_bulk_job,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_batch_tasks")]


def test_a_row_whose_template_fails_keeps_a_failed_message(
    templates, email_accounts
) -> None:
    bulk = newsletter_bulk(
        [
            {"email": "ada@example.com", "first_name": "Ada"},
            {"email": "bob@example.com"},
        ]
    )
    # Edited after the send was created: Bob's row has no first_name.
    newsletter_edit(templates, FIRST_NAME_BODY)

    work_bulk_job(bulk.job_id)

    sent = EmailMessage.objects.get(to_email="ada@example.com")
    assert sent.status == EmailStatus.SENT
    failed = EmailMessage.objects.get(to_email="bob@example.com")
    assert failed.status == EmailStatus.FAILED
    assert failed.error_code == "missing_variable"
    assert "first_name" in failed.last_error
    assert failed.bulk_send == bulk
    assert failed.category == "marketing"
    assert failed.template == "newsletter"
    assert "template" in public_error(failed)
    event = failed.events.get(type=EmailStatus.FAILED)
    assert event.details["code"] == "missing_variable"
    row = BulkRecipient.objects.get(bulk_send=bulk, email="bob@example.com")
    assert row.status == BatchRowStatus.FAILED
    assert row.message == failed
    assert "first_name" in row.last_error
    assert row.attempts == 1  # the same input fails the same way: no retry
    # Counted failed, not pending for ever for want of a message.
    assert bulk_send_counts(bulk) == {"sent": 1, "failed": 1}


def test_staff_resend_it_rendered_anew_once_the_template_is_fixed(
    templates, email_accounts
) -> None:
    original = (templates / "newsletter" / "body.txt").read_text()
    bulk = newsletter_bulk([{"email": "bob@example.com"}])
    newsletter_edit(templates, "Hello {{ first_name }}")
    work_bulk_job(bulk.job_id)
    failed = EmailMessage.objects.get()
    newsletter_edit(templates, original)
    staff = Client()
    staff.force_login(User.objects.create_superuser("boss", "b@example.com", "pw"))

    form = {"action": "resend", "_selected_action": [failed.pk]}
    staff.post("/admin/notifications/emailmessage/", form, follow=True)

    copy = EmailMessage.objects.exclude(pk=failed.pk).get()
    assert copy.text_body.startswith("Hello,")
    assert "List-Unsubscribe" in copy.headers  # a marketing message's headers
