"""A bulk send renders the template for every recipient before it is
stored: a variable that any one row lacks is refused naming that row, and
nothing is stored (docs/notifications.md, *Bulk sends*)."""

import pytest
from django.core.management import CommandError, call_command

from integrations.models import BatchJob
from notifications.models import BulkRecipient, BulkSend
from notifications.rendering import EmailRenderError
from notifications.services.bulk import bulk_send_create

pytestmark = pytest.mark.django_db

NEWS = {"headline": "Spring sale", "body": "Everything is 10% off."}


def _nothing_stored() -> bool:
    return not (
        BulkSend.objects.exists()
        or BulkRecipient.objects.exists()
        or BatchJob.objects.exists()
    )


def test_send_bulk_refuses_a_file_whose_later_row_lacks_a_template_variable(
    email_accounts, tmp_path
):
    # Row 1 has every variable; row 2's blank `body` used to be stored, the
    # command exit 0, and that customer's row fail at send time.
    path = tmp_path / "people.csv"
    path.write_text(
        "email,headline,body\nr1@example.com,H,B\nr2@example.com,H,\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError) as caught:
        call_command("send_bulk", "newsletter", str(path), no_wait=True)
    message = str(caught.value)
    assert "\n" not in message
    assert "Recipient 2 (r2@example.com)" in message and "'body'" in message
    assert _nothing_stored()


def test_a_later_row_without_a_variable_is_refused_naming_the_row(
    email_accounts,
) -> None:
    recipients = [{"email": f"r{i}@example.com", "body": f"B{i}"} for i in range(2500)]
    del recipients[2100]["body"]
    with pytest.raises(EmailRenderError) as caught:
        bulk_send_create(
            template="newsletter",
            context={"headline": "H"},
            recipients=recipients,
            chunk_size=10,
        )
    assert caught.value.code == "missing_variable"
    assert caught.value.param == "body"
    assert str(caught.value).startswith("Recipient 2101 (r2100@example.com): ")
    # Past the first thousand stored rows: they are rolled back too.
    assert _nothing_stored()


def test_a_row_with_an_invalid_address_is_skipped_not_rendered(
    email_accounts,
) -> None:
    created = bulk_send_create(
        template="newsletter",
        context={"headline": "H"},
        recipients=[
            {"email": "ada@example.com", "body": "B"},
            {"email": "not an address"},
        ],
    )
    assert (created.added, created.invalid) == (1, 1)


def test_a_row_whose_data_makes_the_subject_too_long_is_refused(
    email_accounts,
) -> None:
    with pytest.raises(EmailRenderError) as caught:
        bulk_send_create(
            template="newsletter",
            context={"body": "B"},
            recipients=[
                {"email": "ada@example.com", "headline": "Short"},
                {"email": "bob@example.com", "headline": "x" * 1200},
            ],
        )
    assert caught.value.code == "subject_too_long"
    assert str(caught.value).startswith("Recipient 2 (bob@example.com): ")
    assert _nothing_stored()


def test_the_template_itself_is_refused_as_before(email_accounts) -> None:
    with pytest.raises(EmailRenderError) as caught:
        bulk_send_create(
            template="no-such-template",
            context=NEWS,
            recipients=[{"email": "ada@example.com"}],
        )
    assert caught.value.code == "template_not_found"
    assert _nothing_stored()


def test_rows_with_the_same_data_are_each_checked_against_it(email_accounts) -> None:
    # Rows are rendered once per distinct data; a value of another type that
    # compares equal (True == 1) is still data of its own.
    with pytest.raises(EmailRenderError) as caught:
        bulk_send_create(
            template="newsletter",
            context={"headline": "H"},
            recipients=[
                {"email": "a@example.com", "body": "B"},
                {"email": "b@example.com", "body": "B"},
                {"email": "c@example.com", "first_name": "C"},
            ],
        )
    assert caught.value.param == "body"
    assert str(caught.value).startswith("Recipient 3 (c@example.com): ")
    assert _nothing_stored()
