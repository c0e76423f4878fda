"""``qcluster``'s Redis broker checked before django-q2 starts: an
unreachable server or refused credentials are one line and exit 1 (the
sentinel otherwise dies with two tracebacks, or with a refused password runs
on doing nothing). Only the first start is checked: an outage later is the
outage record's (integrations.redis_line)."""

import sys
from urllib.parse import urlsplit

from django.conf import settings
from redis import Redis
from redis.exceptions import AuthenticationError, AuthorizationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from integrations.management.entry import masked


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
    except (AuthenticationError, AuthorizationError) as exc:
        # Subclasses of ConnectionError in redis-py, yet the server answered.
        _stop(f"Redis ({where}) refused the worker: {_reason(exc)} (REDIS_URL)")
    except (RedisConnectionError, RedisTimeoutError) as exc:
        _stop(f"cannot reach Redis ({where}): {_reason(exc)} (REDIS_URL)")
    except RedisError as exc:
        # Refused credentials (WRONGPASS, AUTH without a password set) and
        # other refusals: the server answered, so it is not "unreachable".
        _stop(f"Redis ({where}) refused the worker: {_reason(exc)} (REDIS_URL)")
    finally:
        client.close()


def _where(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def _reason(exc: Exception) -> str:
    """The error's first line, its URL and conninfo passwords masked
    (redis-py names the address, never the password; masked all the same)."""
    return masked((str(exc).strip().splitlines() or [type(exc).__name__])[0])


def _stop(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.exit(1)
