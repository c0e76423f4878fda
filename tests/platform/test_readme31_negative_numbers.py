"""README, "Configuration": a value the process cannot use stops the start with
one line naming the variable. No number setting takes a negative value (counts,
sizes, seconds, hours), yet most were taken as given: WEBHOOK_MAX_BYTES=-1
answered every webhook 413, IDEMPOTENCY_KEY_TTL_HOURS=-1 replayed no key,
BATCH_CHUNK_SIZE=-1 claimed no row. Every number read from the environment
must now be 0 or more (the ones with a tighter rule keep their own line)."""

import re
from pathlib import Path

import pytest

from tests.platform.conftest import ROOT
from tests.platform.test_config_truth import _assert_one_line_stop
from tests.platform.test_config_truth import _run as _run_with


def _numbers_read() -> list[str]:
    """Every variable the settings modules read as a number."""
    names = set()
    for module in ("config/env.py", "config/settings.py", "config/domains.py"):
        text = (Path(ROOT) / module).read_text()
        names |= set(re.findall(r'env\.(?:int|float)\(\s*"([A-Z0-9_]+)"', text))
    return sorted(names)


NUMBERS = _numbers_read()


def _run(**values: str):
    # DEBUG on: no production-only setting (EMAIL_PUBLIC_BASE_URL) stops first.
    return _run_with("", DEBUG="true", **values)


def test_the_settings_read_numbers():
    assert {"WEBHOOK_MAX_BYTES", "BATCH_CHUNK_SIZE", "Q_SAVE_LIMIT"} <= set(NUMBERS)


@pytest.mark.parametrize("name", NUMBERS)
def test_a_negative_number_stops_the_start_in_one_line(name):
    values = {name: "-1"}
    if name.startswith("DB_"):
        # Read for PostgreSQL only; nothing connects while the settings load.
        values["DATABASE_URL"] = "postgres://u:p@127.0.0.1:9/unused"
    _assert_one_line_stop(_run(**values), name)


@pytest.mark.parametrize(
    "name", ["WEBHOOK_MAX_BYTES", "IDEMPOTENCY_KEY_TTL_HOURS", "BATCH_CHUNK_SIZE"]
)
def test_the_line_says_what_is_wanted(name):
    line = _assert_one_line_stop(_run(**{name: "-1"}), name)
    assert "0 or more" in line


def test_zero_still_starts_where_it_means_off():
    result = _run(FRAUD_VELOCITY_MAX_PER_IP="0", WEBHOOK_ENQUEUE_LINGER_MS="0")
    assert result.returncode == 0, result.stderr[-800:]
