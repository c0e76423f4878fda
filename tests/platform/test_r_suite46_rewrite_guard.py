"""The rewrite ahead (tests/rewrite_ahead.py) leans on pytest's private
functions, which pyproject's pytest>=8,<10 does not pin: a pytest where they
are missing or differ turns it off (conftest warns) rather than stopping the
run from starting or writing a cache its workers cannot read."""

import importlib

import _pytest.assertion.rewrite as pytest_rewrite

from tests import rewrite_ahead


def test_the_installed_pytest_is_supported():
    assert rewrite_ahead.unsupported() == ""


def test_a_pytest_writing_the_older_cache_header_is_not_supported(monkeypatch):
    # pytest 8.0 to 9.1: the header holds the source's mtime and size.
    def _write_pyc(state, co, source_stat, pyc):
        raise AssertionError("never called")

    monkeypatch.setattr(rewrite_ahead, "_write_pyc", _write_pyc)

    assert "_write_pyc" in rewrite_ahead.unsupported()


def test_a_pytest_without_one_of_the_names_is_not_supported(monkeypatch):
    monkeypatch.delattr(pytest_rewrite, "try_makedirs")
    try:
        reloaded = importlib.reload(rewrite_ahead)
        assert "try_makedirs" in reloaded.unsupported()
    finally:
        monkeypatch.undo()
        importlib.reload(rewrite_ahead)


def test_with_asserts_left_plain_nothing_is_written(request, monkeypatch, tmp_path):
    # --assert=plain: pytest keeps no assertion state and rewrites nothing.
    monkeypatch.delitem(request.config.stash, pytest_rewrite.assertstate_key)
    path = tmp_path / "test_plain.py"
    path.write_text("def test_it():\n    assert 1 == 2\n")

    rewrite_ahead.rewrite_ahead(request.config, [path])

    assert rewrite_ahead.stale(path)
