"""Test modules rewritten once, before the xdist workers start.

pytest rewrites the asserts of every test module it imports (its import
hook) and keeps the result in ``__pycache__`` unless bytecode writing is off
(PYTHONDONTWRITEBYTECODE, as in CI's environment) or, on a fresh checkout,
has nothing kept yet: then each worker rewrote all ~1,000 test modules, at
once, about 15 s of CPU each of the ~26 s its collection took. The
controller writes pytest's own cache files (hash-checked: a changed source
is rewritten again by whoever imports it), split over the CPUs, and each
worker reads them."""

import importlib.util
import inspect
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

try:  # pytest's private names: another pytest (>=8,<10) may lack them
    from _pytest.assertion.rewrite import (
        PYC_TAIL,
        _rewrite_test,
        _write_pyc,
        assertstate_key,
        get_cache_dir,
        try_makedirs,
    )
except ImportError as error:
    MISSING = str(error)
else:
    MISSING = ""

# The flags word of a checked hash-based pyc (PEP 552), as pytest writes it.
CHECKED_HASH = b"\x03\x00\x00\x00"
# The signatures of pytest 9.2, the first to write that format: before, the
# cache header held the source's mtime and size, which ``stale`` cannot read.
SIGNATURES = {
    "_rewrite_test": ["fn", "config"],
    "_write_pyc": ["state", "co", "source_hash", "pyc"],
}


def unsupported() -> str:
    """Why this pytest's cache cannot be written ahead ("" when it can): its
    private functions are missing or not the ones this module was written
    against. The run then starts as before, each worker rewriting."""
    if MISSING:
        return MISSING
    for name, parameters in SIGNATURES.items():
        found = list(inspect.signature(globals()[name]).parameters)
        if found != parameters:
            return f"_pytest.assertion.rewrite.{name}{tuple(found)} differs"
    return ""


def modules_to_rewrite(
    config: pytest.Config, wanted: Callable[[Path], bool]
) -> list[Path]:
    """The test modules and conftests under the run's arguments that
    ``wanted`` keeps."""
    if config.getini("python_files") != ["test_*.py"]:
        return []  # found below by that pattern only
    return [path for path in _modules(config) if wanted(path)]


def rewrite_ahead(config: pytest.Config, paths: Iterable[Path]) -> None:
    """Each of ``paths`` whose cached rewrite is missing or stale, rewritten
    into pytest's cache, the work split over forked processes."""
    if assertstate_key not in config.stash:
        return  # --assert=plain: the workers rewrite nothing either
    todo = [path for path in paths if stale(path)]
    processes = min(os.cpu_count() or 1, len(todo))
    children = []
    for index in range(1, processes):
        pid = os.fork()
        if pid == 0:
            _rewrite_in_child(config, todo[index::processes])
        children.append(pid)
    _rewrite(config, todo[0::processes] if processes else [])
    for pid in children:
        os.waitpid(pid, 0)


def _rewrite_in_child(config: pytest.Config, paths: list[Path]) -> None:
    status = 1
    try:
        _rewrite(config, paths)
        status = 0
    finally:
        os._exit(status)  # never back into pytest in a forked copy


def _rewrite(config: pytest.Config, paths: Iterable[Path]) -> None:
    state = config.stash[assertstate_key]
    for path in paths:
        try:
            source_hash, code = _rewrite_test(path, config)
        except (OSError, SyntaxError, ValueError):
            continue  # the worker's own import reports it
        if try_makedirs(get_cache_dir(path)):
            _write_pyc(state, code, source_hash, cached(path))


def _modules(config: pytest.Config) -> Iterator[Path]:
    seen: set[Path] = set()
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::", 1)[0]).resolve()
        found = [path] if path.is_file() else _under(path)
        for module in found:
            if module not in seen:
                seen.add(module)
                yield module


def _under(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        path
        for pattern in ("test_*.py", "conftest.py")
        for path in folder.rglob(pattern)
        if "__pycache__" not in path.parts
    )


def cached(path: Path) -> Path:
    return get_cache_dir(path) / (path.name[:-3] + PYC_TAIL)


def stale(path: Path) -> bool:
    """Whether pytest would rewrite ``path`` again: its cache file's header
    is not the one pytest writes for the source as it is."""
    try:
        with open(cached(path), "rb") as kept:
            header = kept.read(16)
        source_hash = importlib.util.source_hash(path.read_bytes())
    except OSError:
        return True
    expected = importlib.util.MAGIC_NUMBER + CHECKED_HASH + source_hash[:8]
    return header != expected
