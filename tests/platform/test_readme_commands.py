"""README, "Management commands": every command named there prints one line
and exits 1 when the database cannot be reached, never a traceback; the
worker commands included, whose database use starts in a child process."""

import os
import signal
import subprocess
import sys

import pytest
from django.db import connection

from tests.platform.conftest import MANAGE, ROOT

SECRET_PASSWORD = "readme-db-pass-7f3a"


def _env_unreachable(**extra: str) -> dict[str, str]:
    s = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONPATH=str(ROOT),
        DATABASE_URL=(
            f"postgres://{s['USER']}:{SECRET_PASSWORD}@{s['HOST']}:1/{s['NAME']}"
        ),
        **extra,
    )
    return env


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # Its own process group: a worker that runs on instead of stopping is
    # ended with its children, not left behind.
    with subprocess.Popen(
        [sys.executable, MANAGE, *args],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            out, err = process.communicate(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            err += "\n(still running after 45 s)"
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _said(result: subprocess.CompletedProcess) -> list[str]:
    # JSON log lines are the log's own records, not what the command said.
    return [
        line
        for line in result.stderr.splitlines()
        if line.strip() and not line.startswith('{"ts"')
    ]


@pytest.mark.parametrize(
    ("args", "broker"),
    [
        (["qcluster"], {}),  # the suite's Redis broker when REDIS_URL is set
        (["qcluster"], {"REDIS_URL": ""}),  # the ORM broker
        (["serve", "--addr", "127.0.0.1:1"], {}),
    ],
    ids=["qcluster", "qcluster-orm-broker", "serve"],
)
def test_a_worker_command_says_one_line_when_the_database_is_unreachable(args, broker):
    result = _manage(*args, env=_env_unreachable(Q_SYNC="false", **broker))
    assert result.returncode == 1, result.stdout[-400:] + result.stderr[-800:]
    assert "Traceback" not in result.stderr, result.stderr[-800:]
    said = _said(result)
    assert len(said) == 1, said[-5:]
    host = connection.settings_dict["HOST"]
    assert said[0].startswith(f"cannot reach the database ({host}:1): "), said
    assert SECRET_PASSWORD not in result.stdout + result.stderr
    assert "Started" not in result.stdout  # nothing was spawned


def test_a_worker_commands_help_needs_no_database():
    result = _manage("qcluster", "--help", env=_env_unreachable())
    assert result.returncode == 0, result.stderr[-800:]
    assert "--run-once" in result.stdout


def test_the_database_check_reads_the_settings_option_first():
    env = _env_unreachable(Q_SYNC="false")
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env.pop("SECRET_KEY", None)
    env["ENV_FILE"] = ""  # config.settings alone would stop: no SECRET_KEY
    result = _manage("qcluster", "--settings=tests.settings", env=env)
    said = _said(result)
    assert result.returncode == 1 and len(said) == 1, said[-5:]
    assert said[0].startswith("cannot reach the database ("), said
