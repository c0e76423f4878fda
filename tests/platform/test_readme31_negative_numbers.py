"""README, "Configuration": a value the process cannot use stops the start with
one line naming the variable. No number setting takes a negative value (counts,
sizes, seconds, hours), yet most were taken as given: WEBHOOK_MAX_BYTES=-1
answered every webhook 413, IDEMPOTENCY_KEY_TTL_HOURS=-1 replayed no key,
BATCH_CHUNK_SIZE=-1 claimed no row. Every number read from the environment
must now be 0 or more (the ones with a tighter rule keep their own line)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import NEGATIVE_ALLOWED
from tests.platform.conftest import ROOT
from tests.platform.test_config_truth import _assert_one_line_stop, _env
from tests.platform.test_config_truth import _run as _run_with


def _numbers_read() -> list[str]:
    """Every variable the settings modules read as a number."""
    names = set()
    for module in (
        "config/env.py",
        "config/settings.py",
        "config/outbox.py",
        "config/domains.py",
    ):
        text = (Path(ROOT) / module).read_text()
        names |= set(re.findall(r'env\.(?:int|float)\(\s*"([A-Z0-9_]+)"', text))
    return sorted(names)


NUMBERS = _numbers_read()


def _run(**values: str):
    # DEBUG on: no production-only setting (EMAIL_PUBLIC_BASE_URL) stops first.
    return _run_with("", DEBUG="true", **values)


# One process loads the settings once per variable (a process each took
# ~0.5 s apiece: django.setup for every one of ~80 variables).
_EACH_NEGATIVE = """
import importlib, io, json, os, sys
out = {}
for name in json.loads(sys.argv[1]):
    for module in [m for m in sys.modules if m == "config" or m.startswith("config.")]:
        del sys.modules[module]
    given = dict(os.environ)
    os.environ[name] = "-1"
    if name.startswith("DB_"):
        # Read for PostgreSQL only; nothing connects while the settings load.
        os.environ["DATABASE_URL"] = "postgres://u:p@127.0.0.1:9/unused"
    err, sys.stderr = sys.stderr, io.StringIO()
    try:
        importlib.import_module("config.settings")
        code = 0
    except SystemExit as exc:
        code = exc.code
    except BaseException as exc:
        code = "Traceback: " + repr(exc)
    finally:
        err, sys.stderr = sys.stderr, err
    os.environ.clear()
    os.environ.update(given)
    out[name] = [code, err.getvalue()]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def negative_stops() -> dict[str, subprocess.CompletedProcess]:
    ran = subprocess.run(
        [sys.executable, "-c", _EACH_NEGATIVE, json.dumps(NUMBERS)],
        env=_env(DEBUG="true"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {
        name: subprocess.CompletedProcess([], code, "", stderr)
        for name, (code, stderr) in json.loads(ran.stdout).items()
    }


@pytest.mark.parametrize("name", sorted(set(NUMBERS) - NEGATIVE_ALLOWED))
def test_a_negative_number_stops_the_start_in_one_line(name, negative_stops):
    _assert_one_line_stop(negative_stops[name], name)


def test_a_negative_save_limit_keeps_no_successful_task(negative_stops):
    """django-q2's save_limit: 0 keeps every successful task, a negative
    number none (django_q.monitor); an operator may want that."""
    assert negative_stops["Q_SAVE_LIMIT"].returncode == 0, negative_stops[
        "Q_SAVE_LIMIT"
    ].stderr


@pytest.mark.parametrize(
    "name", ["WEBHOOK_MAX_BYTES", "IDEMPOTENCY_KEY_TTL_HOURS", "BATCH_CHUNK_SIZE"]
)
def test_the_line_says_what_is_wanted(name):
    line = _assert_one_line_stop(_run(**{name: "-1"}), name)
    assert "0 or more" in line


def test_zero_still_starts_where_it_means_off():
    result = _run(FRAUD_VELOCITY_MAX_PER_IP="0", WEBHOOK_ENQUEUE_LINGER_MS="0")
    assert result.returncode == 0, result.stderr[-800:]
