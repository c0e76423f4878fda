"""Run the web server and a django-q2 worker together, for development.

Both run as child processes, the worker in a process group of its own (a
terminal's Ctrl-C reaches serve, which stops it by SIGTERM to its own
process). Ctrl-C or SIGTERM stops both and exits 0; if
either child dies on its own the other is stopped and the command exits
non-zero, so a half-running system never goes unnoticed. On Linux a serve
that is killed outright takes both with it (each gets SIGTERM; the worker,
``serve_worker``, acts on its first SIGTERM only, so one that arrives while
it stops changes nothing).
"""

import contextlib
import ctypes
import http.client
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from integrations import correlation
from integrations.management.arguments import OneLineCommand
from integrations.management.commands.setup_demo import ADMIN_USERNAME

POLL_SECONDS = 0.2
STOP_TIMEOUT = 20.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WORKER_COMMAND = "serve_worker"


class Command(OneLineCommand):
    help = "Start runserver and a qcluster worker; Ctrl-C stops both."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port")
        parser.add_argument(
            "--stop-timeout",
            type=float,
            default=STOP_TIMEOUT,
            metavar="SECONDS",
            help=(
                "On Ctrl-C/SIGTERM, or when one child dies, how long to wait for "
                "the web server and the worker to stop before each one still "
                "running is killed "
                f"(default {STOP_TIMEOUT:.0f})."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        addr: str = options["addr"]
        host, _, port = addr.rpartition(":")
        # Before anything is spawned: runserver would only fail in the child.
        if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            raise CommandError(
                f"--addr must be host:port with a port from 1 to 65535, not '{addr}'."
            )
        stop_timeout: float = options["stop_timeout"]
        if not (math.isfinite(stop_timeout) and stop_timeout >= 0):
            raise CommandError(
                "--stop-timeout must be a number of seconds, 0 or more, "
                f"not {stop_timeout}."
            )
        # Refused at once, in one line, starting nothing: else runserver
        # fails to bind in its child and serve stops with its error.
        if _port_open(reachable_host(host), int(port)):
            raise CommandError(
                f"{addr} is in use: another program listens there; stop it, "
                "or serve elsewhere with --addr HOST:PORT."
            )
        self._stop_requested: int | None = None
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        children: dict[str, subprocess.Popen] = {}
        self._child_env = child_environment(host, port)
        try:
            # Skipped: serve ran the same system checks just now (check():
            # errors stop it, warnings and the count are shown); the child's
            # took seconds of each start. Its unapplied-migrations notice stays.
            children["web server"] = self._spawn(
                "runserver", addr, "--noreload", "--skip-checks"
            )
            # qcluster acting on its first SIGTERM only: serve's own, or the
            # parent-death one of a serve killed after sending it.
            children["worker"] = self._spawn(WORKER_COMMAND, own_group=True)
            for name, child in children.items():
                self.stdout.write(f"Started {name} (pid {child.pid})")
            self.stdout.flush()
            failed = self._watch(children, reachable_host(host), int(port))
        finally:
            self._stop_all(children, stop_timeout)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if failed is not None:
            name, code = failed
            raise CommandError(f"{name} exited with code {code}; stopped the rest")
        self.stdout.write("Stopped web server and worker.")

    def check(self, *args: Any, **kwargs: Any) -> None:
        """Django's system checks, before any child starts, with the lines
        runserver printed for them (its child skips them: --skip-checks)."""
        self.stdout.write("Performing system checks...\n\n")
        super().check(*args, **{**kwargs, "display_num_errors": True})
        self.stdout.flush()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop_requested = signum

    def _spawn(self, *command: str, own_group: bool = False) -> subprocess.Popen:
        """The command in a child. The web server shares serve's process group:
        a terminal's Ctrl-C reaches it even if serve is stuck. ``own_group``
        (the worker): a group of its own, so the signals a terminal sends the
        foreground group reach serve only, which stops it by SIGTERM (a
        django-q2 cluster whose sentinel the group's signal killed hangs in
        its stop; read from its code, one signalled twice can too)."""
        manage = str(settings.BASE_DIR / "manage.py")
        return subprocess.Popen(  # noqa: S603
            [sys.executable, manage, *command],
            env=self._child_env,
            process_group=0 if own_group else None,
            preexec_fn=child_setup(background=own_group),
        )

    def _watch(
        self, children: dict[str, subprocess.Popen], host: str, port: int
    ) -> tuple[str, int] | None:
        """Block until a stop signal (None) or a child exits (its name, code)."""
        announced = False
        while self._stop_requested is None:
            for name, child in children.items():
                code = child.poll()
                if code is not None and self._stop_requested is None:
                    return name, code
            # Not any listener: one that took the port before runserver bound
            # it would be announced as ours (runserver then fails to bind).
            if not announced and _own_server_answers(
                children["web server"], host, port
            ):
                self._announce(host, port)
                announced = True
            time.sleep(POLL_SECONDS)
        return None

    def _announce(self, host: str, port: int) -> None:
        self.stdout.write(
            self.style.SUCCESS(f"Switchyard is up. Admin: http://{host}:{port}/admin/")
        )
        self.stdout.write(
            f"  Log in as {ADMIN_USERNAME!r} with the password setup_demo printed "
            f"when it created the user (reset: python manage.py changepassword "
            f"{ADMIN_USERNAME})."
        )
        self.stdout.write(f"  API docs: http://{host}:{port}/api/docs/")
        public = self._child_env["EMAIL_PUBLIC_BASE_URL"].strip().rstrip("/")
        self.stdout.write(
            f"  Links in emails: {public}/ (EMAIL_PUBLIC_BASE_URL; unsubscribe)"
        )
        self.stdout.write("  Press Ctrl-C to stop the web server and the worker.")
        # Flushed so the banner shows up at once when stdout is a pipe or a file.
        self.stdout.flush()

    def _stop_all(self, children: dict[str, subprocess.Popen], timeout: float) -> None:
        # SIGTERM to each child's own process only: the worker's cluster stops
        # its sentinel and workers in turn.
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + timeout
        for name, child in children.items():
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in {timeout:.0f}s; killing it")
                child.kill()
                child.wait()
        # The worker's group, not serve's: what a killed cluster leaves behind.
        if "worker" in children:
            _kill_group(children["worker"].pid)


def child_setup(*, background: bool) -> Callable[[], None]:
    """What a child does between fork and exec. On Linux it gets SIGTERM when
    serve dies (killed outright, serve stops nothing: a worker in its own
    group no longer gets a terminal's Ctrl-C either); SIGTERM, not SIGKILL,
    so the cluster still stops its sentinel and workers. ``background`` (the
    worker's own group): SIGTTOU ignored, so with ``stty tostop`` its log
    lines to serve's terminal are written, not the worker stopped."""
    prctl = _prctl()  # looked up here: no dynamic loading after a fork
    parent = os.getpid()

    def setup() -> None:
        if background:
            # Ignored stays ignored across exec and in the cluster's forks.
            signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        if prctl is not None:
            # Until exec this is serve, whose SIGTERM handler (it stops its
            # children) would swallow the signal: the default ends the child.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
            if os.getppid() != parent:  # serve died before the line above
                os.kill(os.getpid(), signal.SIGTERM)

    return setup


def _prctl() -> Callable[..., int] | None:
    """libc's prctl on Linux; None elsewhere (or without a loadable libc)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        # This process's own symbols, libc's among them: find_library would
        # run ldconfig in a child.
        return ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        return None


def _kill_group(leader: int) -> None:
    """SIGKILL to what is left of the worker's process group (its sentinel
    and workers outlive a killed cluster). Safe once the leader is reaped: a
    pid is not given out again while a group still bears it."""
    with contextlib.suppress(ProcessLookupError):  # all of it already ended
        os.killpg(leader, signal.SIGKILL)


def child_environment(host: str, port: str) -> dict[str, str]:
    """The children's environment. Sandbox accounts post their webhooks, and
    emails link (unsubscribe), to this server's own address unless
    SANDBOX_WEBHOOK_BASE_URL or EMAIL_PUBLIC_BASE_URL says otherwise (.env is
    in os.environ by now: read without overwriting)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE}
    served = f"http://{reachable_host(host)}:{port}"
    env.setdefault("SANDBOX_WEBHOOK_BASE_URL", served)
    # Else the DEBUG default (port 8000) whatever --addr says. Empty is
    # unset, as the settings read it (SANDBOX_WEBHOOK_BASE_URL's empty: off).
    if not env.get("EMAIL_PUBLIC_BASE_URL", "").strip():
        env["EMAIL_PUBLIC_BASE_URL"] = served
    return env


def reachable_host(host: str) -> str:
    """Where this machine reaches a server bound to ``host``: an "every
    interface" address is no place to send a browser (nor in ALLOWED_HOSTS)."""
    return host if host not in ("", "0.0.0.0", "::", "[::]") else "127.0.0.1"  # noqa: S104


def _own_server_answers(child: subprocess.Popen, host: str, port: int) -> bool:
    """Whether our app answers on ``port`` from ``child``, still running:
    the listener, looked up once something answered (one bound since would
    be missed), is the child's where /proc tells (another Switchyard echoes
    the id too)."""
    return (
        _answers_as_switchyard(host, port)
        and _listens(child.pid, port) is not False
        and child.poll() is None
    )


def _answers_as_switchyard(host: str, port: int) -> bool:
    """Whether our app answers at ``host:port``: its correlation middleware
    echoes the fresh id a request sends, which another program does not."""
    sent = correlation.new_id()
    connection = http.client.HTTPConnection(_bare(host), port, timeout=2)
    try:
        connection.request("GET", "/healthz", headers={correlation.HEADER: sent})
        # The headers only: a body another program never ends would hold
        # serve here (each read is bounded, not the whole).
        echoed = connection.getresponse().getheader(correlation.HEADER)
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
    return echoed == sent


def _listens(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds the TCP socket listening on ``port``, by
    Linux's /proc (its sockets' inodes); None where /proc does not tell (no
    such files, or a table naming no listener there: a partial one)."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for fields in (row.split() for row in rows):
            # local address (hex ip:port), state (0A: LISTEN), inode
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                listening.add(f"socket:[{fields[9]}]")
    if not listening:
        return None
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    return any(_link(f"/proc/{pid}/fd/{fd}") in listening for fd in fds)


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:  # closed since it was listed
        return ""


def _bare(host: str) -> str:
    """``host`` as a socket takes it: ``[::1]`` (runserver's and a URL's
    spelling of an IPv6 address) is no name a resolver knows."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((_bare(host), port), timeout=0.2):
            return True
    except OSError:
        return False
