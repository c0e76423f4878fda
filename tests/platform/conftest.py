"""Helpers for tests that start Switchyard the way an operator does: a fresh
Python process with only the environment it is given."""

import fcntl
import json
import os
import random
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
MANAGE = str(ROOT / "manage.py")
Result = TypeVar("Result")
# The kernel hands out ports from this range to every bind to port 0 (the
# fake providers of the other test worker): a port picked there, closed and
# given to `serve` could be taken by one of them before runserver binds it.
_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


def serve_port() -> int:
    """A port free now and outside the kernel's ephemeral range, for a
    `serve` started in a child process."""
    low = int(_EPHEMERAL.read_text().split()[0]) if _EPHEMERAL.exists() else 32768
    for _ in range(200):
        port = random.randrange(10_000, low)
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))  # noqa: S104 - what serve may bind
            except OSError:
                continue
        return port
    raise RuntimeError("no free port below the ephemeral range")


def clean_env(**values: str) -> dict[str, str]:
    """A minimal environment: no inherited settings, no `.env` file read."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(values)
    return env


def dev_secrets() -> dict[str, str]:
    return {
        "SECRET_KEY": "platform-test-" + "k" * 40 + "0123456789",
        "CREDENTIALS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }


def manage(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, MANAGE, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    """Clean environment with dev secrets and a throwaway SQLite database."""
    return clean_env(
        **dev_secrets(),
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """(secrets, database) of a SQLite file migrated once, as `make run` does
    (`migrate`, `createcachetable`), for tests that only need one to start
    from: each takes its own copy (``sqlite_copy``), so none sees another's
    rows. Migrating took seconds per module, and seconds more per xdist
    worker: the workers of one run share the one made first."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _migrate_sqlite(tmp_path_factory.mktemp("migrated"))
    # The run's own directory, above each worker's (a new one every run).
    shared = tmp_path_factory.getbasetemp().parent / "migrated_sqlite"
    shared.mkdir(exist_ok=True)
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other worker may be migrating
        made = shared / "secrets.json"
        if not made.exists():
            secrets, _ = _migrate_sqlite(shared)
            made.write_text(json.dumps(secrets))
    return json.loads(made.read_text()), shared / "db.sqlite3"


# A set-up limit, not a behaviour bound: every migration on a fresh file
# took 65 s at load 12 (the CI host's other workers busy), past manage's 60.
MIGRATE_SECONDS = 600


def _migrate_sqlite(directory: Path) -> tuple[dict, Path]:
    secrets = dev_secrets()
    db = directory / "db.sqlite3"
    env = clean_env(**secrets, DEBUG="true", DATABASE_URL=f"sqlite:///{db}")
    for command in (["migrate", "--no-input", "-v0"], ["createcachetable"]):
        result = manage(*command, env=env, timeout=MIGRATE_SECONDS)
        assert result.returncode == 0, result.stderr
    return secrets, db


def sqlite_copy(migrated: tuple[dict, Path], target: Path) -> dict[str, str]:
    """A clean environment on a copy of the migrated database at ``target``."""
    secrets, db = migrated
    for suffix in ("", "-wal", "-shm"):  # WAL mode: the log holds rows too
        source = db.with_name(db.name + suffix)
        if source.exists():
            shutil.copyfile(source, target.with_name(target.name + suffix))
    return clean_env(**secrets, DEBUG="true", DATABASE_URL=f"sqlite:///{target}")


def side_by_side(
    calls: dict[Hashable, Callable[[], Result]], workers: int = 4
) -> dict[Hashable, Result]:
    """Each call's result by its key, the calls made at once: each starts a
    process of its own and waits for it, and a test waiting on processes one
    after another leaves the machine's other cores idle."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {key: pool.submit(call) for key, call in calls.items()}
    return {key: future.result() for key, future in futures.items()}
