"""The migration pass (``pytest --migrations -m migrations``) imports only
test modules that name the marker: a dozen tests, not ~5,000 collected to be
deselected. Every other run collects as before."""

from pathlib import Path
from types import SimpleNamespace

from tests.conftest import pytest_ignore_collect

TESTS = Path(__file__).resolve().parents[1]


def _config(markexpr: str) -> SimpleNamespace:
    return SimpleNamespace(getoption=lambda name, default=None: markexpr)


def test_the_migration_pass_skips_modules_without_the_marker():
    config = _config("migrations")
    assert pytest_ignore_collect(TESTS / "platform" / "test_sizes.py", config) is False
    assert (
        pytest_ignore_collect(TESTS / "shipping" / "test_migrations.py", config)
        is False
    )
    assert pytest_ignore_collect(Path(__file__), config) is False  # names it too
    assert (
        pytest_ignore_collect(TESTS / "integrations" / "test_rows.py", config) is True
    )


def test_every_migration_test_module_is_kept():
    config = _config("migrations")
    for path in TESTS.rglob("test_*.py"):
        if "mark.migrations" in path.read_text():
            assert pytest_ignore_collect(path, config) is False, path


def test_other_runs_and_other_files_are_left_to_pytest():
    rows = TESTS / "integrations" / "test_rows.py"
    for markexpr in ("", "not migrations", "migrations or postgres"):
        assert pytest_ignore_collect(rows, _config(markexpr)) is None
    config = _config("migrations")
    assert pytest_ignore_collect(TESTS / "conftest.py", config) is None
    assert pytest_ignore_collect(TESTS / "integrations", config) is None
