"""Settings as an operator meets them: started in a fresh process from the
environment alone (forked, tests.platform.forkstart: settings read afresh)."""

import json
import re

import pytest

from tests.platform.conftest import ROOT, clean_env, dev_secrets
from tests.platform.forkstart import manage, start

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "Zk3v9Qm2Lp8Xr5Tn1Wc7Yb4Hd6Jf0Gs-Ua_Ve3Ri9Oq2Kx8Mz5Nt1Pw7Ly4Ej6",
    "ALLOWED_HOSTS": "switchyard.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://switchyard.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "BEHIND_TLS_PROXY": "true",
    "EMAIL_PUBLIC_BASE_URL": "https://switchyard.example.com",
}


def test_check_deploy_reports_nothing_with_production_values():
    env = clean_env(
        **PRODUCTION,
        CREDENTIALS_ENCRYPTION_KEYS=dev_secrets()["CREDENTIALS_ENCRYPTION_KEYS"],
    )
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_flags_development_values():
    # The same check must be able to fail, or the test above proves nothing.
    env = clean_env(**dev_secrets(), DEBUG="true")
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG on
    assert "security.W004" in result.stderr  # no HSTS


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        ("SECRET_KEY", "SECRET_KEY is not set"),
        ("CREDENTIALS_ENCRYPTION_KEYS", "CREDENTIALS_ENCRYPTION_KEYS is not set"),
    ],
)
def test_start_without_a_secret_stops_with_one_line(missing, expected):
    values = {**PRODUCTION, **dev_secrets()}
    del values[missing]
    result = manage("check", env=clean_env(**values))
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_wsgi_start_without_secret_key_stops_with_one_line():
    # What gunicorn does: import the WSGI module.
    values = {**PRODUCTION, **dev_secrets()}
    del values["SECRET_KEY"]
    result = start(["-c", "import config.wsgi"], clean_env(**values))
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        "switchyard: configuration error: SECRET_KEY is not set (see .env.example)"
    ]


def test_malformed_encryption_key_stops_with_one_line():
    values = {**PRODUCTION, **dev_secrets(), "CREDENTIALS_ENCRYPTION_KEYS": "abc"}
    result = manage("check", env=clean_env(**values))
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "CREDENTIALS_ENCRYPTION_KEYS entry 1 is not a Fernet key" in lines[0]
    assert "abc" not in lines[0]  # never echo key material


_PROBE = """
import json, django
django.setup()
from django.conf import settings as s
db = s.DATABASES["default"]
print(json.dumps({
    "debug": s.DEBUG,
    "engine": db["ENGINE"],
    "db_options": db.get("OPTIONS", {}),
    "cache": s.CACHES["default"]["BACKEND"],
    "q": s.Q_CLUSTER,
}))
"""


# With DEBUG off there is no default public address to build links with.
PUBLIC_BASE = PRODUCTION["EMAIL_PUBLIC_BASE_URL"]


def _probe(**values: str) -> dict:
    env = clean_env(**dev_secrets(), **{"EMAIL_PUBLIC_BASE_URL": PUBLIC_BASE, **values})
    result = start(["-c", _PROBE], env)
    result.check_returncode()
    return json.loads(result.stdout)


def test_embedded_defaults():
    probe = _probe()
    assert probe["debug"] is False
    assert probe["engine"] == "django.db.backends.sqlite3"
    assert "journal_mode=WAL" in probe["db_options"]["init_command"]
    assert probe["db_options"]["transaction_mode"] == "IMMEDIATE"
    assert probe["db_options"]["timeout"] > 0
    # Django's database cache, culling only expired rows (revcore).
    assert probe["cache"] == "integrations.cache_clock.DatabaseClockCache"
    q = probe["q"]
    assert q["orm"] == "default" and "redis" not in q
    assert q["timeout"] < q["retry"]
    assert 0 < q["max_attempts"] <= 10
    assert q["catch_up"] is False
    assert q["sync"] is False


def test_database_and_redis_urls_switch_backends():
    probe = _probe(
        DATABASE_URL="postgres://u:p@127.0.0.1:5432/switchyard",
        REDIS_URL="redis://127.0.0.1:6379/3",
    )
    assert probe["engine"] == "django.db.backends.postgresql"
    assert probe["cache"] == "django.core.cache.backends.redis.RedisCache"
    # With the Redis timeouts (the broker's reads outlast its 1 s BLPOP).
    assert probe["q"]["redis"] == (
        "redis://127.0.0.1:6379/3?socket_connect_timeout=1.0&socket_timeout=2.0"
    )
    assert "orm" not in probe["q"]


_ENV_READ = re.compile(r'\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"')


def test_env_example_documents_every_setting():
    settings_source = "".join(
        (ROOT / "config" / name).read_text()
        for name in ("env.py", "settings.py", "outbox.py", "domains.py")
    )
    knobs = set(_ENV_READ.findall(settings_source))
    assert {"SECRET_KEY", "DATABASE_URL", "SECURE_HSTS_INCLUDE_SUBDOMAINS"} <= knobs
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    assert sorted(knobs - documented) == []
