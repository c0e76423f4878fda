"""README, "Configuration" / "Inventory": a value the process cannot use stops
the start with one line naming the variable. The reservation time-to-live
settings were taken as given: a default TTL of 0 or below held nothing (every
reservation expired as it was made), and a default outside MIN..MAX gave API
reservations made without `ttl_seconds` a time the same API refuses when sent."""

import json

import pytest

from tests.platform.test_config_truth import _assert_one_line_stop
from tests.platform.test_config_truth import _run as _run_with

_SHOW = (
    "import json; from django.conf import settings as s;"
    "print(json.dumps([s.INVENTORY_RESERVATION_TTL_MIN_SECONDS,"
    " s.INVENTORY_RESERVATION_TTL_SECONDS, s.INVENTORY_RESERVATION_TTL_MAX_SECONDS]))"
)


def _run(**values: str):
    # DEBUG on: no production-only setting (EMAIL_PUBLIC_BASE_URL) stops first.
    return _run_with(_SHOW, DEBUG="true", **values)


@pytest.mark.parametrize(
    "values",
    [
        {"INVENTORY_RESERVATION_TTL_SECONDS": "0"},
        {"INVENTORY_RESERVATION_TTL_SECONDS": "10"},
        {"INVENTORY_RESERVATION_TTL_SECONDS": "90000"},
        {"INVENTORY_RESERVATION_TTL_MIN_SECONDS": "0"},
        {"INVENTORY_RESERVATION_TTL_MIN_SECONDS": "1000"},
        {"INVENTORY_RESERVATION_TTL_MAX_SECONDS": "600"},
    ],
)
def test_an_unusable_reservation_ttl_stops_the_start(values):
    _assert_one_line_stop(_run(**values), "INVENTORY_RESERVATION_TTL")


def test_usable_values_are_taken_as_given():
    result = _run(
        INVENTORY_RESERVATION_TTL_MIN_SECONDS="30",
        INVENTORY_RESERVATION_TTL_SECONDS="30",
        INVENTORY_RESERVATION_TTL_MAX_SECONDS="3600",
    )
    assert result.returncode == 0, result.stderr[-800:]
    assert json.loads(result.stdout) == [30, 30, 3600]


def test_the_defaults_start():
    result = _run()
    assert result.returncode == 0, result.stderr[-800:]
    assert json.loads(result.stdout) == [60, 900, 86400]
