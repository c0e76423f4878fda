"""README, "Configuration": a value the process cannot use stops the start with
one line naming the variable. The task queue's were taken as given: Q_WORKERS=0
ran a worker per CPU (django-q2's reading of "none"), a negative count none at
all (tasks queued for ever), Q_TIMEOUT=0 no time limit, and a Q_TIMEOUT not below
Q_RETRY ("kept below Q_RETRY") hands a running task out again, which then runs
twice: django-q2 only warns."""

import json

import pytest

from tests.platform.test_config_truth import _assert_one_line_stop
from tests.platform.test_config_truth import _run as _run_with

_SHOW = (
    "import json; from django.conf import settings as s;"
    "print(json.dumps([s.Q_CLUSTER['workers'], s.Q_CLUSTER['timeout'],"
    " s.Q_CLUSTER['retry']]))"
)


def _run(code: str, **values: str):
    # DEBUG on: no production-only setting (EMAIL_PUBLIC_BASE_URL) stops first.
    return _run_with(code, DEBUG="true", **values)


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"Q_WORKERS": "0"}, "Q_WORKERS"),
        ({"Q_WORKERS": "-1"}, "Q_WORKERS"),
        ({"Q_TIMEOUT": "0"}, "Q_TIMEOUT"),
        ({"Q_TIMEOUT": "-5"}, "Q_TIMEOUT"),
        ({"Q_TIMEOUT": "90"}, "Q_RETRY"),
        ({"Q_TIMEOUT": "100", "Q_RETRY": "90"}, "Q_TIMEOUT"),
    ],
)
def test_an_unusable_task_queue_value_stops_the_start(values, name):
    line = _assert_one_line_stop(_run(_SHOW, **values), name)
    assert "Traceback" not in line


def test_usable_values_are_taken_as_given():
    result = _run(_SHOW, Q_WORKERS="4", Q_TIMEOUT="120", Q_RETRY="150")
    assert result.returncode == 0, result.stderr[-800:]
    assert json.loads(result.stdout) == [4, 120, 150]


def test_the_defaults_start():
    result = _run(_SHOW)
    assert result.returncode == 0, result.stderr[-800:]
    assert json.loads(result.stdout) == [2, 60, 90]
