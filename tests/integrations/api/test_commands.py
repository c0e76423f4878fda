"""create_api_key, revoke_api_key and prune_idempotency_keys."""

import importlib
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.models import ApiKey, IdempotencyRecord
from integrations.schedules import JOBS

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]


def _create(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_create_api_key_prints_a_working_key_once():
    key, note = _create("--name", "storefront", "--scopes", "payments:write,email:send")
    api_key = ApiKey.objects.get()
    assert api_key.name == "storefront"
    assert api_key.scopes == ["email:send", "payments:write"]
    assert key.startswith(f"sy_{api_key.prefix}_")
    assert key not in note and "cannot be shown again" in note
    assert key not in str(ApiKey.objects.values().get())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/me/").json()["prefix"] == api_key.prefix


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--name", "x", "--scopes", "payments:write,payments:steal"],
            "payments:steal",
        ),
        (["--name", "x", "--scopes", ","], "at least one scope"),
        (["--name", "  ", "--scopes", "email:send"], "needs a name"),
        (["--name", "x" * 101, "--scopes", "email:send"], "100 characters"),
    ],
)
def test_create_api_key_rejects_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        _create(*args)
    assert ApiKey.objects.count() == 0


def test_email_read_is_a_scope_beside_email_send():
    from integrations.management.commands.create_api_key import Command

    assert "email:read" in Command.help and "email:send" in Command.help
    _create("--name", "reader", "--scopes", "email:read")
    assert ApiKey.objects.get().scopes == ["email:read"]


def test_unknown_scope_exits_non_zero_with_one_line():
    # A real process, for the exit status; it fails before touching a database.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "create_api_key",
            "--name",
            "x",
            "--scopes",
            "nope",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Unknown scope(s): nope" in lines[0]
    assert "Traceback" not in result.stderr


def test_revoke_api_key_by_prefix():
    key, _ = _create("--name", "shop", "--scopes", "email:send")
    prefix = ApiKey.objects.get().prefix
    out = StringIO()
    call_command("revoke_api_key", prefix, stdout=out)
    assert "Revoked" in out.getvalue()
    assert ApiKey.objects.get().revoked_at is not None
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/me/").json()["error"]["code"] == "api_key_revoked"
    out = StringIO()
    call_command("revoke_api_key", prefix, stdout=out)
    assert "already revoked" in out.getvalue()


def test_revoke_unknown_prefix_is_an_error():
    with pytest.raises(CommandError, match="No API key with prefix 'abc'"):
        call_command("revoke_api_key", "abc")


def _record(key: str, age: timedelta) -> IdempotencyRecord:
    return IdempotencyRecord.objects.create(
        owner="api-key:1",
        key=key,
        method="POST",
        path="/api/v1/x/",
        request_hash="0" * 64,
        state=IdempotencyRecord.State.COMPLETED,
        response_status=201,
        response_body={},
        created_at=timezone.now() - age,
    )


def test_prune_idempotency_keys_deletes_only_expired(settings):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
    _record("old", timedelta(hours=25))
    _record("fresh", timedelta(hours=23))
    out = StringIO()
    call_command("prune_idempotency_keys", stdout=out)
    assert "Deleted 1 idempotency record(s) older than 24 h" in out.getvalue()
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]


def test_prune_task_is_scheduled_hourly_and_prunes():
    job = next(j for j in JOBS if j.func.endswith("prune_idempotency_records"))
    assert job.minutes == 60
    module_path, func_name = job.func.rsplit(".", 1)
    task = getattr(importlib.import_module(module_path), func_name)
    _record("old", timedelta(days=2))
    assert task() == 1
    assert not IdempotencyRecord.objects.exists()
