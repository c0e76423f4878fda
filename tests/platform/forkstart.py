"""Starts of Switchyard (``python -c CODE``, ``python manage.py ...``) forked
from a waiting Python that has imported Django and the libraries only, not
one module of the project: each fork reads its environment and the project's
settings afresh, as a new process does, without paying the ~0.75 s of CPU
those imports cost every start (a config test starts dozens).

Only what imports with no settings module named is loaded before the fork
(checked in the waiting process), so nothing loaded holds a value read from
a case's environment.

Not the same as a new interpreter, known and left (neither is cheap to
remove; test_suite40a_forkstart compares starts with new ones):

- Hash seed. CPython draws its str/bytes hash secret once, at start, and
  every string and dict made since holds hashes made with it, so a fork
  cannot draw another. A start whose environment sets PYTHONHASHSEED is
  exact (the waiting Python is started with it: ``_interpreter``). Without
  one, every start a waiting Python serves (those with the same interpreter
  variables, in one test worker, for its life) has the same ``hash()`` of a
  str and the same order of a set of strs; new interpreters differ from
  start to start. A test that needs that variety starts new interpreters
  (tests/platform/conftest.py ``manage``).
- Modules. The program's first line already finds in sys.modules what
  PRELOADED imported: ~670 modules (django 250, psycopg 70, redis 60,
  asyncio, email, cryptography, sqlparse...), each submodule also an
  attribute of its package (``import django.contrib; django.contrib.admin``
  works here, not in a new interpreter). Their import ran once, in the
  waiting Python, before any request's environment: so none reads a setting
  (checked there), and what one reads of the environment is part of
  ``_interpreter`` (PSYCOPG_). Code that looks in sys.modules for an
  optional library would see it loaded; the project's packages never look.
  Dropping the entries in the fork would import a second Django beside the
  one the rest still hold."""

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from tests.platform.conftest import MANAGE, ROOT

# Libraries every start imports, none of which reads settings on import.
PRELOADED = (
    "django.db.models",
    "django.core.management",
    "django.contrib.admin",
    "django.test",
    "django.http",
    "django.urls",
    "django.forms",
    "environ",
    "cryptography.fernet",
    "psycopg",
    "redis",
)
PROJECT = ("config", "integrations", "payments", "shipping", "inventory")
PROJECT += ("notifications", "storefront_hooks", "tests")

# The waiting process: one request (JSON) a line on stdin, one fork each,
# its exit status (JSON) a line on stdout once it ended.
_SERVER = r"""
import atexit, importlib, json, os, runpy, signal, sys, threading, traceback
import types

RUNPY = runpy.run_path.__code__.co_filename  # "<frozen runpy>" when frozen
# What the interpreter itself put in the environment at start (LC_CTYPE when
# it coerced the C locale): a new interpreter gives it to each program too.
STARTED = {k: v for k, v in os.environ.items() if k not in sys.argv[3].split(",")}
for name in sys.argv[1].split(","):
    importlib.import_module(name)
from django.conf import settings
loaded = [m for m in sys.modules if m.split(".")[0] in sys.argv[2].split(",")]
assert not settings.configured and not loaded, loaded
assert "DJANGO_SETTINGS_MODULE" not in os.environ


def exit_status(exc):
    # What the interpreter makes of a SystemExit that ends a program.
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    sys.stderr.write(f"{exc.code}\n")
    return 1


def start(request):
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.update(STARTED)
    os.chdir(request["cwd"])
    for fd, path, mode in ((0, os.devnull, os.O_RDONLY),
                           (1, request["out"], os.O_WRONLY),
                           (2, request["err"], os.O_WRONLY)):
        opened = os.open(path, mode)
        os.dup2(opened, fd)
        os.close(opened)  # a new interpreter has 0, 1 and 2 open, no more
    argv = request["argv"]
    try:
        if argv[0] == "-c":
            sys.argv, sys.path[0] = ["-c"], ""
            main = types.ModuleType("__main__")
            sys.modules["__main__"] = main
            exec(compile(argv[1], "<string>", "exec"), main.__dict__)
        else:
            sys.argv, sys.path[0] = argv, os.path.dirname(argv[0])
            runpy.run_path(argv[0], run_name="__main__")
        status = 0
    except SystemExit as exc:
        status = exit_status(exc)
    except BaseException:
        kind, exc, trace = sys.exc_info()
        trace = trace.tb_next  # from the program's frame on, as a new one prints
        while trace and trace.tb_frame.f_code.co_filename == RUNPY:
            trace = trace.tb_next
        exc.__traceback__ = trace
        sys.excepthook(kind, exc, exc.__traceback__)
        status = "SIGINT" if kind is KeyboardInterrupt else 1
    threading._shutdown()  # an interpreter waits for the threads, then atexit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    if status == "SIGINT":  # as an interpreter ends on Ctrl-C: killed by it
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(status)


for line in sys.stdin:
    request = json.loads(line)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        start(request)
    _, wait_status = os.waitpid(pid, 0)
    print(json.dumps(os.waitstatus_to_exitcode(wait_status)), flush=True)
"""


class _Server:
    def __init__(self, interpreter: dict[str, str]) -> None:
        # PATH, HOME and the interpreter's own variables (PYTHONPATH, ...,
        # the locale): no setting of the project's, so nothing loaded before
        # a fork reads one.
        env = {n: os.environ[n] for n in ("PATH", "HOME") if n in os.environ}
        env |= interpreter
        argv = [_SERVER, ",".join(PRELOADED), ",".join(PROJECT), ",".join(env)]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=ROOT,
            text=True,
            start_new_session=True,
        )

    def run(self, argv: list[str], env: dict[str, str], timeout: float) -> tuple:
        with tempfile.TemporaryDirectory() as scratch:
            out, err = Path(scratch, "out"), Path(scratch, "err")
            out.touch()
            err.touch()
            request = {"argv": argv, "env": env, "cwd": str(ROOT)}
            request |= {"out": str(out), "err": str(err)}
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            if not ready:
                self.kill()
                raise subprocess.TimeoutExpired(argv, timeout)
            line = self.proc.stdout.readline()
            assert line, "the fork server ended"
            return json.loads(line), out.read_bytes(), err.read_bytes()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


_idle: dict[tuple, list[_Server]] = {}
_every: list[_Server] = []
_lock = threading.Lock()


def _interpreter(env: dict[str, str]) -> tuple:
    """What the interpreter reads of ``env`` when it starts, before any code
    runs, and what a library PRELOADED reads when imported (psycopg its
    implementation): a fork server is started with the same."""
    read = ("PYTHON", "LANG", "LC_", "PSYCOPG_")
    return tuple(sorted((k, v) for k, v in env.items() if k.startswith(read)))


def start(argv: list[str], env: dict[str, str], timeout: float = 60, text=True):
    """A CompletedProcess of ``python *argv`` started with ``env`` in the
    project's directory, ``argv`` being ``["-c", code]`` or a script and its
    arguments (text: no bytes to decode as the interpreter would)."""
    key = _interpreter(env)
    with _lock:
        servers = _idle.setdefault(key, [])
        server = servers.pop() if servers else None
    if server is None:
        server = _Server(dict(key))
        with _lock:
            _every.append(server)
    code, out, err = server.run(argv, env, timeout)  # a timeout kills it
    with _lock:
        _idle[key].append(server)
    if text:
        out, err = out.decode(), err.decode()
    return subprocess.CompletedProcess([sys.executable, *argv], code, out, err)


def manage(*args: str, env: dict[str, str], timeout: float = 60, text=True):
    """conftest.manage, forked."""
    return start([MANAGE, *args], env, timeout, text)


@atexit.register
def _stop() -> None:
    for server in _every:
        server.kill()
