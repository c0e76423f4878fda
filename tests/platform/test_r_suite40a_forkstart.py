"""r-suite40a: a forked start (tests.platform.forkstart) must say and exit as
a new interpreter does in what the interpreter itself does around the
program: the environment it sets at start (C locale coerced to UTF-8), the
threads it waits for at exit, the traceback of a script it runs."""

import subprocess
import sys

from tests.platform import forkstart
from tests.platform.conftest import ROOT, clean_env


def _both(argv: list[str], env: dict[str, str]) -> tuple:
    forked = forkstart.start(argv, env)
    new = subprocess.run(
        [sys.executable, *argv],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,  # a loaded machine: this is no test of speed
        check=False,
    )
    forked = (forked.returncode, forked.stdout, forked.stderr)
    return forked, (new.returncode, new.stdout, new.stderr)


def test_a_fork_has_the_environment_the_interpreter_set_at_start():
    # No LANG: a new interpreter coerces the C locale and sets LC_CTYPE,
    # which the program and every process it starts then see.
    code = "import os; print(os.environ.get('LC_CTYPE'))"
    forked, new = _both(["-c", code], clean_env())
    assert forked == new


def test_a_fork_waits_for_the_programs_threads_as_an_interpreter_exits():
    code = "import threading, time\n"
    code += "def late():\n    time.sleep(0.3)\n    print('late', flush=True)\n"
    code += "threading.Thread(target=late).start()"
    forked, new = _both(["-c", code], clean_env())
    assert new == (0, "late\n", "")
    assert forked == new


def test_a_scripts_traceback_starts_at_the_script(tmp_path):
    script = tmp_path / "boom.py"
    script.write_text("raise ValueError('boom')\n")
    forked, new = _both([str(script)], clean_env())
    assert new[0] == 1 and "runpy" not in new[2]
    assert forked == new


def test_a_fork_imports_psycopg_as_the_environment_asks():
    # psycopg picks its implementation from PSYCOPG_IMPL when imported, and
    # the waiting Python imported it before any case's environment.
    code = "import psycopg; print(psycopg.pq.__impl__)"
    forked, new = _both(["-c", code], clean_env(PSYCOPG_IMPL="python"))
    assert new == (0, "python\n", "")
    assert forked == new


def test_a_fork_has_only_the_three_standard_descriptors_open():
    code = "import os; print(sorted(os.listdir('/proc/self/fd')))"
    forked, new = _both(["-c", code], clean_env())
    assert forked == new


def test_an_interrupted_fork_ends_as_an_interrupted_interpreter():
    # An unhandled KeyboardInterrupt: the traceback, then killed by SIGINT.
    forked, new = _both(["-c", "raise KeyboardInterrupt"], clean_env())
    assert new[0] == -2
    assert forked == new


def test_a_negative_exit_status_is_an_exit_status_not_a_signal():
    forked, new = _both(["-c", "import sys; sys.exit(-1)"], clean_env())
    assert new[0] == 255
    assert forked == new
