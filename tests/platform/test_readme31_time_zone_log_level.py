"""README, "Configuration": a value the process cannot use stops the start
with one line naming the variable, never a traceback. TIME_ZONE, LOG_LEVEL and
Q_LOG_LEVEL were handed on unread: a zone name that is not one, or a level
that is not one (a lower-case `info` included, which logging does not take),
stopped the start with a traceback from Django or logging."""

import json

import pytest

from tests.platform.test_config_truth import _assert_one_line_stop
from tests.platform.test_config_truth import _run as _run_with

_SHOW = (
    "import json, logging; from django.conf import settings as s;"
    "print(json.dumps([s.TIME_ZONE, logging.getLogger().level,"
    " logging.getLogger('django-q').level]))"
)


def _run(**values: str):
    # DEBUG on: no production-only setting (EMAIL_PUBLIC_BASE_URL) stops first.
    return _run_with(_SHOW, DEBUG="true", **values)


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"TIME_ZONE": "Mars/Base"}, "TIME_ZONE"),
        ({"TIME_ZONE": "../../etc/passwd"}, "TIME_ZONE"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"LOG_LEVEL": ""}, "LOG_LEVEL"),
        ({"Q_LOG_LEVEL": "chatty"}, "Q_LOG_LEVEL"),
    ],
)
def test_an_unusable_value_stops_the_start_in_one_line(values, name):
    _assert_one_line_stop(_run(**values), name)


def test_levels_are_read_in_any_case_and_zones_by_name():
    result = _run(TIME_ZONE="Europe/Paris", LOG_LEVEL="debug", Q_LOG_LEVEL="Error")
    assert result.returncode == 0, result.stderr[-800:]
    assert json.loads(result.stdout) == ["Europe/Paris", 10, 40]


def test_the_defaults_start():
    result = _run()
    assert result.returncode == 0, result.stderr[-800:]
    assert json.loads(result.stdout) == ["UTC", 20, 30]
