"""Email templates as files: one that cannot be decoded is the template's
error (template_invalid), not the recipients file's nor a 500."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from notifications import rendering
from notifications.rendering import EmailRenderError, render_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def broken_template(tmp_path, settings):
    root = tmp_path / "base"
    folder = root / "templates" / "emails" / "promo"
    folder.mkdir(parents=True)
    (folder / "subject.txt").write_bytes(b"Sale \xe9t\xe9 {{ name }}")  # Latin-1
    (folder / "text.txt").write_text("Hello {{ name }}")
    settings.BASE_DIR = root
    rendering._engine.cache_clear()
    yield
    rendering._engine.cache_clear()


def test_a_template_file_that_is_not_utf8_is_a_template_error(broken_template):
    with pytest.raises(EmailRenderError):
        render_email("promo", {"name": "Ada"})


def test_send_bulk_does_not_blame_the_recipients_file(broken_template, tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("email,name\nada@example.com,Ada\n")
    with pytest.raises(CommandError) as caught:
        call_command("send_bulk", "promo", str(people), "--no-wait", stdout=StringIO())
    assert "people.csv is not UTF-8" not in str(caught.value), str(caught.value)


def test_the_bulk_api_answers_a_template_error_not_a_500(broken_template) -> None:
    from rest_framework.test import APIClient

    from tests.factories import ApiKeyFactory

    key = ApiKeyFactory(scopes=["email:send", "email:read"])
    api = APIClient(raise_request_exception=False)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    body = {
        "template": "promo",
        "category": "transactional",
        "context": {"name": "Ada"},
        "recipients": [{"email": "ada@example.com", "context": {}}],
    }
    response = api.post(
        "/api/v1/notifications/bulk-sends/",
        body,
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert response.status_code == 400, (response.status_code, response.content[:200])
