"""``qcluster``'s Redis broker checked before django-q2 starts: an
unreachable server or refused credentials are one line and exit 1 (the
sentinel otherwise dies with two tracebacks, or with a refused password runs
on doing nothing). Only the first start is checked: an outage later is the
outage record's (integrations.redis_line)."""

import sys
from typing import NoReturn
from urllib.parse import urlsplit

from django.conf import settings
from redis import Redis
from redis.exceptions import AuthenticationError, AuthorizationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from integrations.management.entry import error_line


def broker_usable() -> None:
    """Exit 1 with one line if the cluster's Redis broker cannot be used;
    nothing to check for the database broker (checked already)."""
    url = settings.Q_CLUSTER.get("redis")
    if not isinstance(url, str):
        return
    where = _where(url)
    client = Redis.from_url(url)
    try:
        client.ping()
    except RedisError as exc:
        # Refused credentials (WRONGPASS) and other refusals are answers:
        # redis-py's auth errors subclass ConnectionError all the same.
        answered = isinstance(exc, (AuthenticationError, AuthorizationError))
        if not answered and isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
            _stop(f"cannot reach Redis ({where}): {error_line(exc)} (REDIS_URL)")
        _stop(f"Redis ({where}) refused the worker: {error_line(exc)} (REDIS_URL)")
    finally:
        client.close()


def _where(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def _stop(line: str) -> NoReturn:
    sys.stderr.write(line + "\n")
    sys.exit(1)
