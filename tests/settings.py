"""Test settings: environment defaults for the suite, then the one real
settings module. Anything set in the environment (CI's DATABASE_URL and
REDIS_URL) wins over these defaults."""

import os

_DEFAULTS = {
    # A developer's .env must not change what the suite tests.
    "ENV_FILE": "",
    "SECRET_KEY": "test-secret-key-not-for-production-0123456789abcdefghijklmnopqrstuv",
    # Two keys so rotation is exercised; the first is the newest.
    "CREDENTIALS_ENCRYPTION_KEYS": (
        "mVC0BzZnWhqNJ5OBUa2pvo5Nr4mq26U4ZS2tJd2zPNY=,"
        "0Ek4Nq4HBWbqD-C9uv4ZyKbB8YF7Q1g6SU4h0JgAGgQ="
    ),
    "Q_SYNC": "true",
    # Call-log rows written in the call, so a test reads them at once; the
    # background writer has tests of its own.
    "PROVIDER_CALL_LOG_LINGER_MS": "0",
    # Sandboxes post no webhooks unless a test points this at its live server.
    "SANDBOX_WEBHOOK_BASE_URL": "",
    "DEBUG": "false",
    # Production (DEBUG off) refuses a loopback or plain-http unsubscribe base.
    "EMAIL_PUBLIC_BASE_URL": "https://switchyard.test",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "WHITENOISE_USE_FINDERS": "true",
    "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
    "LOG_LEVEL": "WARNING",
    # Playwright's sync API runs an event loop in the test thread.
    "DJANGO_ALLOW_ASYNC_UNSAFE": "true",
}
for _name, _value in _DEFAULTS.items():
    os.environ.setdefault(_name, _value)


def _worker_redis_url(url: str, worker: str) -> str:
    """Under pytest-xdist each worker flushes its own Redis database (every
    test clears the cache): worker gwN takes the given database + N (mod 16).
    redis-py reads a ``?db=`` parameter before the path, and a unix socket
    has only the parameter: the database is written where it is read."""
    from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    on_path = "db" not in query and parts.scheme in ("redis", "rediss")
    given = parts.path.strip("/") if on_path else query.get("db", ["0"])[0]
    db = (int(given or 0) + int(worker.removeprefix("gw"))) % 16
    if on_path:
        return urlunsplit(parts._replace(path=f"/{db}"))
    query["db"] = [str(db)]
    # Not urlunsplit: it drops the "//" of unix:///path (no host).
    return f"{url.split('?', 1)[0]}?{urlencode(query, doseq=True)}"


# Once per test run: a command the suite starts inherits both variables.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if (
    _WORKER
    and os.environ.get("REDIS_URL")
    and "SWITCHYARD_TEST_WORKER" not in os.environ
):
    os.environ["REDIS_URL"] = _worker_redis_url(os.environ["REDIS_URL"], _WORKER)
    os.environ["SWITCHYARD_TEST_WORKER"] = _WORKER

from config.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
