"""Settings for ``make bench`` and the gunicorn it starts: the test suite's
environment defaults, but tasks are only enqueued (no worker runs them), and
the database is the throwaway one the bench process created."""

import os
import tempfile

os.environ.setdefault("Q_SYNC", "false")
os.environ.setdefault("LOG_LEVEL", "ERROR")
# As in production, not as in the suite: call-log rows written behind the call.
os.environ.setdefault("PROVIDER_CALL_LOG_LINGER_MS", "50")
# Breaker and limiter keys are per account pk, and a fresh database reuses
# pks: a prefix per run keeps a previous run's state out of this one.
os.environ.setdefault("CACHE_KEY_PREFIX", f"bench{os.getpid()}")

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, Q_CLUSTER

ROOT_URLCONF = "bench.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
# Not the test suite's queue: nobody consumes what the bench enqueues.
Q_CLUSTER = {**Q_CLUSTER, "name": "switchyard-bench"}

_db = DATABASES["default"]
# BENCH_DB_NAME lets two benchmark runs on one machine use separate databases.
_BENCH_DB = os.environ.get("BENCH_DB_NAME", "bench_switchyard")
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so gunicorn workers in other processes share it.
    _db["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"switchyard-{_BENCH_DB}.sqlite3")
    }
else:
    # Not test_switchyard: the test suite may be running next to us.
    _db["TEST"] = {"NAME": _BENCH_DB}
# Set by the bench process once it created the database (gunicorn workers).
if os.environ.get("SWITCHYARD_BENCH_DB_NAME"):
    _db["NAME"] = os.environ["SWITCHYARD_BENCH_DB_NAME"]
