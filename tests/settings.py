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

from config.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
