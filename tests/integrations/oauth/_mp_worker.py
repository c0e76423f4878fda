"""One OS process asking for an OAuth token (run by test_multiprocess.py).

    python -m tests.integrations.oauth._mp_worker '<json job>'

It shares a database with its siblings (DATABASE_URL: the account, the call
log) and a cache: Redis (REDIS_URL set) or that database's cache table. It
prints "ready" once Django is up, waits for a line on stdin, asks for the
token, and prints one JSON line: the token and when it asked and got it.
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


def main() -> None:
    job = json.loads(sys.argv[1])
    _setup(job)
    if job["database"] == "prepare":
        return
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    sys.stdout.write(json.dumps(ask(job)) + "\n")


if __name__ == "__main__":
    main()
