"""ops35: ``EMAIL_PUBLIC_BASE_URL=`` left empty in ``.env`` made `serve` print
"Links in emails: /" and the demo's emails carry relative unsubscribe links
(``/unsubscribe/...``), which no mail client can open. Empty means unset, as
the settings already read it with DEBUG off ("is not set"): with DEBUG on the
default, under `serve` the address served, and the banner says the same."""

from pathlib import Path

import pytest

from integrations.management.commands.serve import child_environment
from tests.platform.conftest import clean_env, dev_secrets, manage

SHOW = (
    "from django.conf import settings;"
    "from notifications.unsubscribe import unsubscribe_url;"
    "print(settings.EMAIL_PUBLIC_BASE_URL);"
    "print(unsubscribe_url('ada@example.com'))"
)


def _env_file(tmp_path: Path, debug: str) -> dict[str, str]:
    """A clean environment reading a `.env` that sets the URL empty."""
    env_file = tmp_path / ".env"
    env_file.write_text(f"DEBUG={debug}\nEMAIL_PUBLIC_BASE_URL=\n")
    return clean_env(
        **dev_secrets(),
        ENV_FILE=str(env_file),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )


@pytest.mark.parametrize("empty", ["", "  "])
def test_serve_gives_its_children_the_address_served(monkeypatch, empty):
    monkeypatch.setenv("EMAIL_PUBLIC_BASE_URL", empty)
    # The banner prints this value: "Links in emails: http://127.0.0.1:8001/".
    public = child_environment("127.0.0.1", "8001")["EMAIL_PUBLIC_BASE_URL"]
    assert public == "http://127.0.0.1:8001"


def test_empty_in_env_file_with_debug_is_the_default(tmp_path):
    done = manage("shell", "-c", SHOW, env=_env_file(tmp_path, "true"))

    assert done.returncode == 0, done.stderr
    base, link = done.stdout.splitlines()[-2:]
    assert base == "http://127.0.0.1:8000"
    assert link.startswith("http://127.0.0.1:8000/")


def test_empty_in_env_file_without_debug_is_not_set(tmp_path):
    env = _env_file(tmp_path, "false")
    env["ALLOWED_HOSTS"] = "switchyard.example.com"

    done = manage("shell", "-c", SHOW, env=env)

    assert done.returncode != 0
    assert "EMAIL_PUBLIC_BASE_URL is not set" in done.stderr
