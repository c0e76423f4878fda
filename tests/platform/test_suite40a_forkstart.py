"""suite40a: config tests start Switchyard forked from a Python that holds
the libraries only (tests.platform.forkstart). A forked start must be what a
new interpreter is: the environment and settings read afresh each time, the
same exit status and the same output."""

import subprocess
import sys

from tests.platform import forkstart
from tests.platform.conftest import MANAGE, ROOT, clean_env, dev_secrets

DEBUG = "import django; django.setup(); from django.conf import settings as s;"
DEBUG += "print(s.DEBUG, s.REST_FRAMEWORK['PAGE_SIZE'])"


def _env(**values: str) -> dict[str, str]:
    unused_db = "sqlite:////tmp/switchyard_suite40a_unused.sqlite3"
    return clean_env(**{**dev_secrets(), "DATABASE_URL": unused_db, **values})


def _new_interpreter(argv: list[str], env: dict[str, str]):
    return subprocess.run(
        [sys.executable, *argv],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,  # a loaded machine: this is no test of speed
        check=False,
    )


def test_each_fork_reads_its_own_environment():
    first = forkstart.start(["-c", DEBUG], _env(DEBUG="true", API_PAGE_SIZE="7"))
    public = {"EMAIL_PUBLIC_BASE_URL": "https://switchyard.example.com"}
    second = _env(DEBUG="false", API_PAGE_SIZE="9", **public)
    second = forkstart.start(["-c", DEBUG], second)

    assert (first.returncode, first.stdout) == (0, "True 7\n"), first.stderr
    assert (second.returncode, second.stdout) == (0, "False 9\n"), second.stderr


def test_a_fork_says_and_exits_as_a_new_interpreter_does():
    cases = [
        (["-c", DEBUG], _env(DEBUG="ture")),
        ([MANAGE, "check"], _env(DEBUG="true", API_RATE="bogus")),
        ([MANAGE, "check"], _env(DEBUG="true")),
        ([MANAGE, "nosuchcommand"], _env(DEBUG="true")),
        (["-c", "import django; django.setup(); 1/0"], _env(DEBUG="true")),
    ]
    for argv, env in cases:
        forked = forkstart.start(argv, env)
        new = _new_interpreter(argv, env)
        assert (forked.returncode, forked.stdout, forked.stderr) == (
            new.returncode,
            new.stdout,
            new.stderr,
        ), argv
