"""``manage.py send_bulk``: a CSV / JSON Lines / JSON file sent with a
progress bar and a summary; bad input is one line and nothing stored;
cancel."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from notifications.models import BulkSend, EmailMessage, SandboxEmail

pytestmark = pytest.mark.django_db(transaction=True)

NEWS = json.dumps({"headline": "Spring sale", "body": "Everything is 10% off."})


def _run(*args: str) -> str:
    out = StringIO()
    call_command("send_bulk", *args, "--interval", "0", stdout=out)
    return out.getvalue()


def test_a_csv_is_sent_with_a_progress_bar_and_a_summary(email_accounts, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email,first_name\nada@example.com,Ada\nbob@example.com,\nnope,X\n")
    output = _run("newsletter", str(path), "--context", NEWS, "--name", "Spring")
    bulk = BulkSend.objects.get()
    assert f"{bulk.public_id}: 2 recipients (1 invalid, 0 duplicates skipped)" in output
    assert "[##############################] 2/2 done, 0 failed (100.0%)" in output
    assert output.rstrip().endswith(f"{bulk.public_id} done: 2 sent")
    texts = {m.to_email: m.text_body for m in SandboxEmail.objects.all()}
    assert texts["ada@example.com"].startswith("Hello Ada,")
    assert texts["bob@example.com"].startswith("Hello,")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("people.jsonl", '{"email": "ada@example.com", "first_name": "Ada"}\n\n'),
        ("people.json", '[{"email": "ada@example.com", "first_name": "Ada"}]'),
    ],
)
def test_json_files_are_read_too(email_accounts, tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    output = _run("newsletter", str(path), "--context", NEWS)
    assert "done: 1 sent" in output
    assert EmailMessage.objects.get().context["first_name"] == "Ada"


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({"r.csv": "name\nAda\n"}, ["--context", NEWS], "no 'email' column"),
        ({"r.txt": "x"}, ["--context", NEWS], "unknown format"),
        ({"r.jsonl": "{bad\n"}, ["--context", NEWS], "line 1 is not valid JSON"),
        ({"r.json": '{"email": 1}'}, ["--context", NEWS], "must hold a list"),
        ({"r.csv": "email\nada@example.com\n"}, [], "uses 'headline'"),
        ({"r.csv": "email\nada@example.com\n"}, ["--context", "[1]"], "JSON object"),
        ({"r.csv": "email\nnope\n"}, ["--context", NEWS], "No valid recipient"),
        ({}, ["--context", NEWS], "Cannot read"),
        (
            {"r.csv": "email,note\nada@example.com," + "x" * 140_000 + "\n"},
            ["--context", NEWS],
            "malformed near line 2: field larger than field limit",
        ),
        (
            {"r.csv": "email\nada@example.com\n"},
            ["--context", NEWS, "--name", "n" * 256],
            "more than 255 characters",
        ),
        (
            {"r.csv": f"email\n{'a' * 250}@example.com\n"},
            ["--context", NEWS],
            "No valid recipient",
        ),
    ],
)
def test_bad_input_is_one_line_and_stores_nothing(
    email_accounts, tmp_path, files, args, message
):
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    target = next(iter(files), "missing.csv")
    with pytest.raises(CommandError) as caught:
        _run("newsletter", str(tmp_path / target), *args)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not BulkSend.objects.exists()


def test_a_file_that_is_not_utf8_is_one_line(email_accounts, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("email,first_name\nzoe@example.com,Zoé\n".encode("latin-1"))
    with pytest.raises(CommandError) as caught:
        _run("newsletter", str(path), "--context", NEWS)
    assert str(caught.value) == "latin1.csv is not UTF-8 text."
    assert not BulkSend.objects.exists()


@pytest.mark.parametrize("interval", ["-1", "nan"])
def test_a_bad_interval_is_refused_before_anything_is_stored(
    email_accounts, tmp_path, interval
):
    path = tmp_path / "r.csv"
    path.write_text("email\nada@example.com\n")
    with pytest.raises(CommandError) as caught:
        call_command(
            "send_bulk",
            "newsletter",
            str(path),
            "--context",
            NEWS,
            "--interval",
            interval,
            stdout=StringIO(),
        )
    assert "--interval" in str(caught.value)
    assert not BulkSend.objects.exists()


def test_cancel_by_public_id(email_accounts, tmp_path, monkeypatch):
    from integrations.batch import services

    monkeypatch.setattr(services, "async_task", lambda *a, **kw: None)
    path = Path(tmp_path / "r.csv")
    path.write_text("email\nada@example.com\n")
    call_command(
        "send_bulk",
        "newsletter",
        str(path),
        "--context",
        NEWS,
        "--no-wait",
        stdout=StringIO(),
    )
    bulk = BulkSend.objects.get()
    assert _run("--cancel", bulk.public_id).strip() == f"{bulk.public_id}: cancelled"
    with pytest.raises(CommandError, match="is cancelled: nothing to cancel"):
        _run("--cancel", bulk.public_id)
    with pytest.raises(CommandError, match="No bulk send bulk_nope"):
        _run("--cancel", "bulk_nope")
    assert not SandboxEmail.objects.exists()


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("name", "content", "args", "message"),
    [
        (
            "r.csv",
            "email,first_name\nada@example.com,A\x00da\n",
            ["--context", NEWS],
            "line 2, field 'first_name': Control characters",
        ),
        (
            "r.csv",
            "email,first\x00name\nada@example.com,Ada\n",
            ["--context", NEWS],
            "line 2, field 'first\\x00name': Control",
        ),
        (
            "r.jsonl",
            '{"email": "ada@example.com", "first_name": "A\\u0000da"}\n',
            ["--context", NEWS],
            "line 1, field 'first_name': Control characters",
        ),
        (
            "r.json",
            '[{"email": "ada@example.com", "context": {"first_name": "\\ud800"}}]',
            ["--context", NEWS],
            "item 0, field 'context.first_name': Control",
        ),
        (
            "r.csv",
            "email\nada@example.com\n",
            ["--context", json.dumps({"headline": "h\u0000", "body": "b"})],
            "--context, field 'headline': Control",
        ),
        (
            "r.jsonl",
            '{"email": "ada@example.com", "first_name": NaN}\n',
            ["--context", NEWS],
            "line 1 is not valid JSON (NaN is not a JSON value)",
        ),
        (
            "r.csv",
            "email\nada@example.com\n",
            ["--context", '{"headline": "h", "body": Infinity}'],
            "--context is not valid JSON (Infinity is not a JSON value)",
        ),
        (
            "r.jsonl",
            '{"email": "ada@example.com", "n": 99999999999999999999}\n',
            ["--context", NEWS],
            "line 1, field 'n': The number is out of range",
        ),
        (
            "r.jsonl",
            '{"email": "ada@example.com", "n": 1e400}\n',
            ["--context", NEWS],
            "line 1, field 'n': The number is out of range",
        ),
        (
            "r.json",
            DEEP,
            ["--context", NEWS],
            "the file is not valid JSON (nested deeper than 32",
        ),
        (
            "r.csv",
            "email\nada@example.com\n",
            ["--context", DEEP],
            "--context is not valid JSON (nested deeper",
        ),
    ],
)
def test_characters_and_values_the_api_refuses_are_one_line_and_store_nothing(
    email_accounts, tmp_path, name, content, args, message
):
    # A NUL in text or jsonb was a DataError from PostgreSQL, NaN a
    # "invalid input syntax for type json", deep nesting a RecursionError.
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(CommandError) as caught:
        _run("newsletter", str(path), *args)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not BulkSend.objects.exists()


def test_a_template_name_too_long_for_a_file_is_a_template_error(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email\nada@example.com\n")
    with pytest.raises(CommandError) as caught:
        call_command("send_bulk", "x" * 300, str(path), "--no-wait", stdout=StringIO())
    # The recipients file is fine; the template name is what is wrong.
    assert "Cannot read" not in str(caught.value)
    assert "template" in str(caught.value).lower()
