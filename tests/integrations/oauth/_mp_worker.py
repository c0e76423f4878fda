"""OS processes asking for an OAuth token (run by test_multiprocess.py).

    python -m tests.integrations.oauth._mp_worker '<json job>'

Django is set up once, then the job's ``processes`` are forked from it (as a
django-q cluster forks its workers), so each start costs a fork, not an
interpreter and Django. Each process shares a database with its siblings
(DATABASE_URL: the account, the call log) and a cache: Redis (REDIS_URL set)
or that database's cache table. "ready" is printed once every process is
up; a line on stdin releases them together; each prints one JSON line: the
token and when it asked and got it.
"""

import json
import os
import sys
import time
from contextlib import contextmanager
from typing import Any


def _setup(job: dict[str, Any]) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    if job["database"] == "prepare":
        from django.db import connection

        # The SQLite file the workers will share: tables (and the cache
        # table) straight from the models, and the account.
        connection.settings_dict["TEST"]["MIGRATE"] = False
        connection.settings_dict["TEST"]["NAME"] = connection.settings_dict["NAME"]
        connection.creation.create_test_db(
            verbosity=0, autoclobber=True, serialize=False
        )
        _account(job).save()


def _account(job: dict[str, Any]):
    from integrations.models import ProviderAccount

    account = ProviderAccount(
        pk=job["pk"],
        slug=job["slug"],
        kind="payments",
        provider="sandbox",
        display_name=job["slug"],
        settings=job["settings"],
    )
    account.set_credentials({})
    return account


@contextmanager
def _no_lock(key: str, **kwargs: Any):
    yield True


def ask(job: dict[str, Any]) -> dict[str, Any]:
    from integrations import oauth

    if job.get("without_lock"):
        # The control run: what eight cold callers do with no lock.
        oauth.cache_lock = _no_lock
    credentials = oauth.ClientCredentials(
        job["token_url"], job["client_id"], job["client_secret"]
    )
    tokens = oauth.TokenCache(_account(job), credentials, provider="acme")
    started = time.time()
    token = tokens.get()
    return {"token": token, "started": started, "finished": time.time()}


def _child(job: dict[str, Any], ready: int, go: int) -> None:
    """One forked process: say it is up, wait for the release, ask."""
    status = 1
    try:
        os.write(ready, b".")
        os.read(go, 1)  # returns once the parent closes its end
        line = json.dumps(ask(job)) + "\n"
        os.write(sys.stdout.fileno(), line.encode())  # one write: lines never mix
        status = 0
    except BaseException:
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(status)


def _fork_all(job: dict[str, Any]) -> int:
    """Fork the job's processes, release them together on a line on stdin;
    the exit status is 1 if any of them failed."""
    from django.db import connections

    connections.close_all()  # nothing open crosses the fork
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    children = []
    for _ in range(job["processes"]):
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            os.close(go_w)
            _child(job, ready_w, go_r)
        children.append(pid)
    os.close(ready_w)
    os.close(go_r)
    up = 0
    while up < len(children):
        up += len(os.read(ready_r, len(children)) or b"?" * len(children))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    os.close(go_w)
    failed = [pid for pid in children if os.waitpid(pid, 0)[1] != 0]
    return 1 if failed else 0


def main() -> None:
    job = json.loads(sys.argv[1])
    _setup(job)
    if job["database"] == "prepare":
        return
    sys.exit(_fork_all(job))


if __name__ == "__main__":
    main()
