"""What the configuration promises operators: a bad value stops the start with
one line naming the variable (never a traceback, never a start that fails
every request later), and production mail links to a public https address."""

import subprocess
import sys

import pytest
from rest_framework.test import APIClient

from tests.factories import ApiKeyFactory
from tests.platform.conftest import ROOT, clean_env, dev_secrets, manage

# README "Production" / .env.example's production section, before
# EMAIL_PUBLIC_BASE_URL was part of it (DATABASE_URL left on SQLite here).
README_PRODUCTION = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "switchyard.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://switchyard.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "BEHIND_TLS_PROXY": "true",
}
PUBLIC = {"EMAIL_PUBLIC_BASE_URL": "https://switchyard.example.com"}


def _env(**values: str) -> dict[str, str]:
    unused_db = "sqlite:////tmp/switchyard_config_truth_unused.sqlite3"
    return clean_env(**{**dev_secrets(), "DATABASE_URL": unused_db, **values})


def _run(code: str, **values: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup();" + code],
        env=_env(**values),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _assert_one_line_stop(result: subprocess.CompletedProcess, name: str) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr[-800:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[-800:]
    assert lines[0].startswith("switchyard: configuration error: ")
    assert name in lines[0]
    return lines[0]


# --- EMAIL_PUBLIC_BASE_URL: RFC 8058 needs an https one-click link ------------

_UNSUBSCRIBE = (
    "from notifications.unsubscribe import unsubscribe_headers;"
    "print(unsubscribe_headers('ada@example.com')['List-Unsubscribe'])"
)


def test_documented_production_settings_give_public_https_unsubscribe_links():
    result = _run(_UNSUBSCRIBE, **README_PRODUCTION)
    if result.returncode == 0:
        link = result.stdout.strip()
        assert link.startswith("<https://") and "127.0.0.1" not in link, link
    else:  # stopping at start with one line naming the variable is fine too
        _assert_one_line_stop(result, "EMAIL_PUBLIC_BASE_URL")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "http://switchyard.example.com",
        "https://localhost:8443",
        "https://app.localhost",
        "https://127.0.0.1",
        "https://[::1]:8443",
        "https://0.0.0.0",
        "https:///no-host",
        "switchyard.example.com",
    ],
)
def test_production_refuses_an_unsubscribe_base_that_is_not_public_https(url):
    result = manage("check", env=_env(**README_PRODUCTION, EMAIL_PUBLIC_BASE_URL=url))
    line = _assert_one_line_stop(result, "EMAIL_PUBLIC_BASE_URL")
    assert "https" in line


def test_production_with_a_public_https_base_links_to_it():
    result = _run(_UNSUBSCRIBE, **README_PRODUCTION, **PUBLIC)
    assert result.returncode == 0, result.stderr[-800:]
    assert result.stdout.strip().startswith("<https://switchyard.example.com/"), (
        result.stdout
    )


def test_check_deploy_is_clean_with_the_documented_production_values():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env=_env(**README_PRODUCTION, **PUBLIC),
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_development_keeps_the_loopback_default():
    # `make run` writes DEBUG=true and no EMAIL_PUBLIC_BASE_URL.
    result = _run(_UNSUBSCRIBE, DEBUG="true")
    assert result.returncode == 0, result.stderr[-800:]
    assert result.stdout.strip().startswith("<http://127.0.0.1:8000/")


# --- API_RATE ------------------------------------------------------------------


@pytest.mark.parametrize("rate", ["100/10s", "600 per minute", "bogus", "0/min", ""])
def test_a_malformed_api_rate_stops_the_start_with_one_line(rate):
    result = manage("check", env=_env(DEBUG="true", API_RATE=rate))
    _assert_one_line_stop(result, "API_RATE")


@pytest.mark.parametrize("rate", ["600/min", "10/s", "5000/hour", "100000/day"])
def test_a_well_formed_api_rate_starts(rate):
    result = manage("check", env=_env(DEBUG="true", API_RATE=rate))
    assert result.returncode == 0, result.stderr[-800:]


@pytest.mark.django_db
def test_a_malformed_api_rate_set_in_code_does_not_fail_every_request(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "100/10s"},
    }
    key = ApiKeyFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    client.raise_request_exception = False
    response = client.get("/api/v1/me/")
    assert response.status_code != 500


# --- Comma lists ---------------------------------------------------------------


def test_a_listed_host_after_a_comma_and_space_is_served():
    code = (
        "from django.test import Client;"
        "print(Client(HTTP_HOST='b.example.com').get('/healthz').status_code)"
    )
    result = _run(
        code,
        DEBUG="true",
        ALLOWED_HOSTS="a.example.com, b.example.com",
        LOG_LEVEL="CRITICAL",
    )
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout.strip().splitlines()[-1] == "200", result.stdout


def test_comma_lists_drop_spaces_and_empty_entries():
    code = (
        "from django.conf import settings as s;"
        "print(s.ALLOWED_HOSTS, s.CSRF_TRUSTED_ORIGINS,"
        " s.STOREFRONT_WEBHOOK_RETRY_SCHEDULE)"
    )
    result = _run(
        code,
        DEBUG="true",
        ALLOWED_HOSTS=" a.example.com , ,b.example.com,",
        CSRF_TRUSTED_ORIGINS="https://a.example.com, https://b.example.com",
        STOREFRONT_WEBHOOK_RETRY_SCHEDULE="5, 60 ,",
    )
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout.strip() == (
        "['a.example.com', 'b.example.com'] "
        "['https://a.example.com', 'https://b.example.com'] [5, 60]"
    )


# --- Other bad values: one line, not a traceback -------------------------------


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"Q_WORKERS": "abc"}, "Q_WORKERS"),
        ({"PROVIDER_READ_TIMEOUT": "fast"}, "PROVIDER_READ_TIMEOUT"),
        ({"STOREFRONT_WEBHOOK_RETRY_SCHEDULE": "5,soon"}, "RETRY_SCHEDULE"),
        ({"DATABASE_URL": "garbage"}, "DATABASE_URL"),
        ({"DATABASE_URL": "nosuchdb://u:p@h/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://u:p@db.internal:abc/x"}, "DATABASE_URL"),
        ({"REDIS_URL": "redis://redis.internal:abc/0"}, "REDIS_URL"),
        ({"REDIS_URL": "redis.internal:6379"}, "REDIS_URL"),
        ({"API_PAGE_SIZE": "500", "API_MAX_PAGE_SIZE": "100"}, "API_PAGE_SIZE"),
        ({"API_PAGE_SIZE": "0"}, "API_PAGE_SIZE"),
        ({"EMAIL_DEFAULT_FROM": "Shop\nBcc: x@evil.example <s@example.com>"}, "FROM"),
        ({"EMAIL_DEFAULT_FROM": "a@example.com, b@example.com"}, "EMAIL_DEFAULT_FROM"),
        ({"EMAIL_DEFAULT_FROM": "Shop, Inc. <s@example.com>"}, "EMAIL_DEFAULT_FROM"),
        ({"EMAIL_DEFAULT_FROM": "the shop"}, "EMAIL_DEFAULT_FROM"),
    ],
)
def test_a_bad_value_stops_the_start_with_one_line(values, name):
    result = manage("check", env=_env(DEBUG="true", **values))
    _assert_one_line_stop(result, name)


@pytest.mark.parametrize(
    "sender",
    ["shop@example.com", '"Shop, Inc." <shop@example.com>', "Bücher <s@bücher.de>"],
)
def test_a_usable_default_sender_starts(sender):
    result = manage("check", env=_env(DEBUG="true", EMAIL_DEFAULT_FROM=sender))
    assert result.returncode == 0, result.stderr


def test_a_bad_database_url_never_echoes_its_password():
    result = manage(
        "check",
        env=_env(DEBUG="true", DATABASE_URL="postgres://u:s3cr3tpw@db:abc/x"),
    )
    line = _assert_one_line_stop(result, "DATABASE_URL")
    assert "s3cr3tpw" not in line


# --- A method the endpoint lacks ------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/shipping/rates/"),
        ("get", "/api/v1/shipping/pickups/"),
        ("delete", "/api/v1/inventory/reservations/res_x/"),
        ("put", "/api/v1/notifications/emails/em_x/"),
        ("delete", "/api/v1/notifications/bulk-sends/bulk_x/"),
    ],
)
def test_a_method_the_endpoint_lacks_is_a_405_not_a_403(method, path):
    key = ApiKeyFactory()  # every scope
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    response = getattr(client, method)(path)
    assert response.status_code == 405, response.json()
    assert "Allow" in response


@pytest.mark.django_db
def test_a_method_the_endpoint_has_still_needs_its_scope():
    key = ApiKeyFactory(scopes=["inventory:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    response = client.post("/api/v1/shipping/rates/", {}, format="json")
    assert response.status_code == 403
