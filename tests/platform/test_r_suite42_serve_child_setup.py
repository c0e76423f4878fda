"""serve's ``child_setup`` (between fork and exec): a child whose serve died
before it asked for the parent-death signal ends at once rather than run on
as an orphan. The child is a fork of serve, whose own SIGTERM handler (it
stops its children) it still has until exec: that handler must not swallow
the SIGTERM the child sends itself."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from integrations.management.commands import serve

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="parent-death signal: Linux only"
)
SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]


@pytest.fixture
def serves_handlers() -> Iterator[None]:
    """SIGINT and SIGTERM caught here, as serve catches them while it runs."""
    previous = {
        sig: signal.signal(sig, lambda signum, frame: None)
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    yield
    for sig, handler in previous.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("background", [False, True])
def test_a_child_whose_serve_died_before_its_setup_ends(
    serves_handlers, monkeypatch, background
):
    with monkeypatch.context() as patch:
        # A serve that is gone: the child's parent is another process.
        patch.setattr(os, "getpid", lambda: 1)
        setup = serve.child_setup(background=background)
    proc = subprocess.Popen(SLEEPER, preexec_fn=setup)
    try:
        assert proc.wait(timeout=10) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()


def test_a_child_of_a_live_serve_runs(serves_handlers):
    proc = subprocess.Popen(SLEEPER, preexec_fn=serve.child_setup(background=False))
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1)
    finally:
        proc.kill()
        proc.wait()
