"""django-q2's real cluster (``manage.py qcluster``) in a child process, for
the tests that run one, and its stop."""

import os
import signal
import subprocess
import sys

from django.db import connection

from tests.platform.conftest import MANAGE, ROOT


def database_url() -> str:
    db = connection.settings_dict
    return (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}"
        f"/{db['NAME']}"
    )


def start_cluster(**env: str) -> subprocess.Popen:
    """A qcluster on the suite's Redis and this test's (committed) database,
    in a session of its own, its output (stdout and stderr) in ``stdout``."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "Q_SYNC": "false",
        "Q_WORKERS": "2",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, MANAGE, "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_cluster(process: subprocess.Popen, within: float = 30) -> bytes:
    """SIGTERM to the cluster's own process, as ``docker stop`` sends it: its
    handler sets the sentinel's stop event and the sentinel stops the pusher,
    the workers and the monitor in turn (under a second). Its output.

    Not to the whole process group: a sentinel killed by that SIGTERM after
    the cluster's handler began setting the event never wakes, and the
    handler waits for it for ever (multiprocessing's notify waits for each
    sleeper to wake): ``within`` spent in full, then SIGKILL, on a busy
    machine. SIGKILL to the group is kept for a cluster that does not stop."""
    process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
    return out
