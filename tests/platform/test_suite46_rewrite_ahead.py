"""The controller's rewrite of the test modules (tests/rewrite_ahead.py)
leaves what pytest's own import would: a cache file pytest reads back, with
the asserts rewritten, and a changed source rewritten again."""

import types

import pytest
from _pytest.assertion.rewrite import _read_pyc

from tests.rewrite_ahead import cached, rewrite_ahead, stale

FAILING = "def test_it():\n    left = [1, 2]\n    assert left == [1, 3]\n"


def _module_from_cache(path):
    code = _read_pyc(path, cached(path))
    assert code is not None, "pytest would rewrite the module again"
    module = types.ModuleType(path.stem)
    exec(code, module.__dict__)  # noqa: S102 (the module as pytest runs it)
    return module


def test_each_module_is_rewritten_as_pytest_reads_it(request, tmp_path):
    # More modules than processes: each forked process writes its share.
    paths = [tmp_path / f"test_m{index}.py" for index in range(5)]
    for path in paths:
        path.write_text(FAILING)
    assert all(stale(path) for path in paths)

    rewrite_ahead(request.config, paths)

    for path in paths:
        assert not stale(path)
        with pytest.raises(AssertionError) as caught:
            _module_from_cache(path).test_it()
        # pytest's rewritten assert tells the values, a bare one nothing.
        assert "[1, 2] == [1, 3]" in str(caught.value)


def test_a_changed_source_is_stale_and_rewritten_again(request, tmp_path):
    path = tmp_path / "test_changed.py"
    path.write_text(FAILING)
    rewrite_ahead(request.config, [path])
    path.write_text(FAILING.replace("[1, 3]", "[1, 4]"))
    assert stale(path)

    rewrite_ahead(request.config, [path])

    with pytest.raises(AssertionError) as caught:
        _module_from_cache(path).test_it()
    assert "[1, 2] == [1, 4]" in str(caught.value)


def test_a_module_that_does_not_compile_is_left_to_the_import(request, tmp_path):
    broken, fine = tmp_path / "test_broken.py", tmp_path / "test_fine.py"
    broken.write_text("def test_it(:\n")
    fine.write_text(FAILING)

    rewrite_ahead(request.config, [broken, fine])

    assert stale(broken) and not stale(fine)
