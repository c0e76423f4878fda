"""Review of mail40: a message failed ``subject_empty`` (every account it
could go to requires a subject) is resent by staff once its template is
fixed. Copying its stored empty subject would only fail again the same way:
the copy is rendered anew from its template and context."""

import pytest
import responses
from django.contrib.auth.models import User
from django.test import Client

from notifications import rendering
from notifications.models import EmailMessage, EmailStatus
from notifications.services import email_message_create
from notifications.services.sending import email_message_deliver
from tests.notifications.contract import harness_sendgrid

pytestmark = pytest.mark.django_db


def test_a_resend_after_the_template_is_fixed_is_rendered_anew(
    templates, django_capture_on_commit_callbacks
) -> None:
    sendgrid = harness_sendgrid.make_account()
    sendgrid.enabled = False  # accepted while no account required a subject
    sendgrid.save()
    message = email_message_create(
        to="ada@example.com",
        template="newsletter",
        category="marketing",
        context={"headline": "", "body": "News."},
        enqueue=False,
    )
    sendgrid.enabled = True
    sendgrid.save()
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.FAILED
    (templates / "newsletter" / "subject.txt").write_text("News {{ headline }}")
    rendering._engine.cache_clear()
    staff = Client()
    staff.force_login(User.objects.create_superuser("boss", "b@example.com", "pw"))

    with django_capture_on_commit_callbacks(execute=False):
        staff.post(
            "/admin/notifications/emailmessage/",
            {"action": "resend", "_selected_action": [message.pk]},
        )
    copy = EmailMessage.objects.exclude(pk=message.pk).get()
    assert copy.subject == "News"
    assert copy.headers == message.headers  # its unsubscribe headers kept
    with responses.RequestsMock() as rsps:
        rsps.post(
            harness_sendgrid.SEND_URL,
            status=202,
            body=b"",
            headers={"X-Message-Id": "sg-9"},
        )
        assert email_message_deliver(message_pk=copy.pk) == EmailStatus.SENT
