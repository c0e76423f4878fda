"""Eight OS processes asking at once for a cold OAuth token cause one token
request, whether the cache they share is Redis or the database cache.

The workers are forked by one ``python -m tests.integrations.oauth._mp_worker``
once it has started Django; they say "ready" and are released together. The
token endpoint (a fault server on 127.0.0.1) answers after a second, so every
worker asks while the token is still missing; the server counts the requests.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from integrations.testing.faultserver import FaultServer, fault_server, respond
from tests.integrations.oauth.conftest import (
    CLIENT_ID,
    FAST,
    SECRET,
    TOKEN_PATH,
    token_body,
)

ROOT = Path(__file__).resolve().parents[3]
WORKER = "tests.integrations.oauth._mp_worker"
PROCESSES = 8
TOKEN_LATENCY = 1.0
DATABASE_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "switchyard_cache",
    }
}


@pytest.fixture
def token_server():
    with fault_server(hang_limit=5) as server:
        server.route(
            "POST",
            TOKEN_PATH,
            respond(200, json=token_body("shared"), latency=TOKEN_LATENCY),
        )
        yield server


def _job(server: FaultServer, database: str, **extra: Any) -> dict[str, Any]:
    return {
        **_account_job(database, pk=extra.pop("pk", 4242)),
        "token_url": server.url_for(TOKEN_PATH),
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        **extra,
    }


def _account_job(database: str, pk: int = 4242) -> dict[str, Any]:
    return {"pk": pk, "slug": "oauth-mp", "settings": FAST, "database": database}


def _env(database_url: str, redis_url: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": database_url}
    env["REDIS_URL"] = redis_url
    return env


def _spawn(job: dict[str, Any], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", WORKER, json.dumps(job)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ask_together(job: dict[str, Any], env: dict[str, str]) -> list[dict[str, Any]]:
    parent = _spawn({**job, "processes": PROCESSES}, env)
    try:
        line = parent.stdout.readline()
        assert line == "ready\n", parent.stderr.read()
        parent.stdin.write("go\n")  # all released together
        parent.stdin.flush()
        out, err = parent.communicate(timeout=60)
        assert parent.returncode == 0, err
        results = [json.loads(line) for line in out.strip().splitlines()]
        assert len(results) == PROCESSES, out
        return results
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def _assert_all_asked_while_cold(results: list[dict[str, Any]]) -> None:
    # Every process had asked before the first one had its token: all of them
    # found the cache cold.
    assert max(r["started"] for r in results) < min(r["finished"] for r in results)


@pytest.fixture(scope="module")
def prepared_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file (the embedded default) with tables, the cache table and
    the account, made once (one Django start); each test gets a copy."""
    path = tmp_path_factory.mktemp("oauth-mp") / "prepared.sqlite3"
    prepare = _spawn(_account_job("prepare"), _env(f"sqlite:///{path}", ""))
    _, err = prepare.communicate(timeout=60)
    assert prepare.returncode == 0, err
    return path


def _shared_sqlite(
    tmp_path: Path, prepared: Path, *, redis_url: str = ""
) -> dict[str, str]:
    """A fresh copy of the prepared file. Without Redis the workers share its
    database cache."""
    shared = tmp_path / "shared.sqlite3"
    shutil.copyfile(prepared, shared)
    return _env(f"sqlite:///{shared}", redis_url)


@pytest.mark.redis
def test_eight_processes_one_token_request_with_redis(
    token_server, tmp_path, prepared_sqlite
):
    env = _shared_sqlite(tmp_path, prepared_sqlite, redis_url=settings.REDIS_URL)

    results = _ask_together(_job(token_server, "shared"), env)

    assert [r["token"] for r in results] == ["shared"] * PROCESSES
    _assert_all_asked_while_cold(results)
    assert len(token_server.requests_for("POST", TOKEN_PATH)) == 1


def test_eight_processes_one_token_request_with_the_database_cache(
    token_server, tmp_path, prepared_sqlite
):
    env = _shared_sqlite(tmp_path, prepared_sqlite)

    results = _ask_together(_job(token_server, "shared"), env)

    assert [r["token"] for r in results] == ["shared"] * PROCESSES
    _assert_all_asked_while_cold(results)
    assert len(token_server.requests_for("POST", TOKEN_PATH)) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_processes_one_token_request_with_the_database_cache_on_postgres(
    token_server,
):
    from tests.factories import ProviderAccountFactory

    account = ProviderAccountFactory(slug="oauth-mp", settings=dict(FAST))
    # This run's own cache may be Redis; the workers use the database's.
    with override_settings(CACHES=DATABASE_CACHE):
        call_command("createcachetable", verbosity=0)
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}"
        f"/{db['NAME']}"
    )

    results = _ask_together(_job(token_server, "shared", pk=account.pk), _env(url, ""))

    assert [r["token"] for r in results] == ["shared"] * PROCESSES
    _assert_all_asked_while_cold(results)
    assert len(token_server.requests_for("POST", TOKEN_PATH)) == 1


def test_without_the_lock_every_process_fetches(
    token_server, tmp_path, prepared_sqlite
):
    # The control: the same eight processes, the lock taken away.
    env = _shared_sqlite(tmp_path, prepared_sqlite)

    results = _ask_together(_job(token_server, "shared", without_lock=True), env)

    _assert_all_asked_while_cold(results)
    assert len(token_server.requests_for("POST", TOKEN_PATH)) == PROCESSES
