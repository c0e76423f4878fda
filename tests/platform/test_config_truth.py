"""What the configuration promises operators: a bad value stops the start with
one line naming the variable (never a traceback, never a start that fails
every request later), and production mail links to a public https address."""

import subprocess
from functools import partial

import pytest
from rest_framework.test import APIClient

from tests.factories import ApiKeyFactory
from tests.platform.conftest import clean_env, dev_secrets, side_by_side
from tests.platform.forkstart import manage, start

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
    # Forked, not a new interpreter: the same fresh read of settings (forkstart).
    return start(["-c", "import django; django.setup();" + code], _env(**values))


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


@pytest.mark.parametrize(
    "base",
    [
        "https://localhost.",
        "https://app.localhost.",
        "https://127.1",
        "https://2130706433",
        "https://0x7f.0.0.1",
        "https://[::ffff:127.0.0.1]",
    ],
)
def test_production_refuses_other_spellings_of_this_machine(base):
    # The resolver reads 127.1 and 2130706433 as 127.0.0.1 (inet_aton).
    result = _run("pass", **README_PRODUCTION, EMAIL_PUBLIC_BASE_URL=base)
    line = _assert_one_line_stop(result, "EMAIL_PUBLIC_BASE_URL")
    assert result.returncode == 2 and "this machine" in line, line


@pytest.mark.parametrize(
    "base",
    [
        "https://switchyard.example.com?src=mail",
        "https://switchyard.example.com/#x",
        "https://switchyard.example.com?",
    ],
)
def test_production_refuses_a_base_links_cannot_be_built_on(base):
    # The unsubscribe path would land in the query or fragment: the one-click
    # POST would never reach the endpoint.
    result = _run(_UNSUBSCRIBE, **README_PRODUCTION, EMAIL_PUBLIC_BASE_URL=base)
    assert result.returncode == 2, result.stdout
    _assert_one_line_stop(result, "EMAIL_PUBLIC_BASE_URL")


@pytest.mark.parametrize(
    "base",
    [
        "http://deploy:hunter2@switchyard.example.com",
        "https://deploy:hunter2@switchyard.example.com",
        "https://deploy:hunter2@localhost/x?token=hunter2",
    ],
)
def test_a_refused_unsubscribe_base_never_echoes_its_password(base):
    result = _run("pass", **README_PRODUCTION, EMAIL_PUBLIC_BASE_URL=base)
    line = _assert_one_line_stop(result, "EMAIL_PUBLIC_BASE_URL")
    assert "hunter2" not in line and "deploy" not in line, line


def test_a_public_base_with_a_path_and_a_dotted_name_starts():
    base = "https://switchyard.example.com./mail"
    result = _run(_UNSUBSCRIBE, **README_PRODUCTION, EMAIL_PUBLIC_BASE_URL=base)
    assert result.returncode == 0, result.stderr[-800:]
    assert result.stdout.strip().startswith(f"<{base}/"), result.stdout


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


MALFORMED_RATES = ["100/10s", "600 per minute", "bogus", "0/min", ""]
WELL_FORMED_RATES = ["600/min", "10/s", "5000/hour", "100000/day"]
UNREADABLE_RATES = ["10/x", "10/Hour", "10/", "/min", "0/hours"]
BAD_VALUES = [
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
]
USABLE_SENDERS = [
    "shop@example.com",
    '"Shop, Inc." <shop@example.com>',
    "Bücher <s@bücher.de>",
]


def _key(values: dict[str, str]) -> tuple:
    return tuple(sorted(values.items()))


@pytest.fixture(scope="module")
def checked() -> dict:
    """``manage check`` with each parametrized case's values below, by
    ``_key(values)``: run side by side once, not one after another."""
    cases = [{"API_RATE": rate} for rate in MALFORMED_RATES + WELL_FORMED_RATES]
    cases += [{"API_RATE": rate} for rate in UNREADABLE_RATES]
    cases += [values for values, _ in BAD_VALUES]
    cases += [{"EMAIL_DEFAULT_FROM": sender} for sender in USABLE_SENDERS]
    return side_by_side(
        {
            _key(values): partial(manage, "check", env=_env(DEBUG="true", **values))
            for values in cases
        }
    )


@pytest.mark.parametrize("rate", MALFORMED_RATES)
def test_a_malformed_api_rate_stops_the_start_with_one_line(checked, rate):
    result = checked[_key({"API_RATE": rate})]
    _assert_one_line_stop(result, "API_RATE")


@pytest.mark.parametrize("rate", WELL_FORMED_RATES)
def test_a_well_formed_api_rate_starts(checked, rate):
    result = checked[_key({"API_RATE": rate})]
    assert result.returncode == 0, result.stderr[-800:]


@pytest.mark.parametrize(
    "rate", ["1000/hours", "100/minutes", "50/seconds", "10000/days", "7/m"]
)
def test_an_api_rate_drf_reads_by_its_first_letter_still_starts(rate):
    # Started before the API_RATE check came in: refusing it now would be an
    # outage on upgrade. DRF reads the period's first letter only.
    from rest_framework.throttling import SimpleRateThrottle

    count, seconds = SimpleRateThrottle.parse_rate(None, rate)
    code = (
        "from django.conf import settings;"
        "print(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['api_key'])"
    )
    result = _run(code, DEBUG="true", API_RATE=rate)
    assert result.returncode == 0, result.stderr[-800:]
    assert result.stdout.strip() == rate and count > 0 and seconds > 0


@pytest.mark.parametrize("rate", UNREADABLE_RATES)
def test_an_api_rate_drf_cannot_read_still_stops_the_start(checked, rate):
    result = checked[_key({"API_RATE": rate})]
    _assert_one_line_stop(result, "API_RATE")


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


@pytest.mark.parametrize("schedule", ["", " , ", "5,0,60", "-5"])
def test_a_retry_schedule_with_no_usable_wait_stops_the_start(schedule):
    # An empty schedule used to start with []: every storefront webhook got
    # one attempt, then dead, and nothing said so.
    code = (
        "from django.conf import settings as s;"
        " print(s.STOREFRONT_WEBHOOK_MAX_ATTEMPTS)"
    )
    result = _run(code, DEBUG="true", STOREFRONT_WEBHOOK_RETRY_SCHEDULE=schedule)
    assert result.returncode == 2, f"started: {result.stdout.strip()}"
    _assert_one_line_stop(result, "STOREFRONT_WEBHOOK_RETRY_SCHEDULE")


# --- Other bad values: one line, not a traceback -------------------------------


@pytest.mark.parametrize(("values", "name"), BAD_VALUES)
def test_a_bad_value_stops_the_start_with_one_line(checked, values, name):
    result = checked[_key(values)]
    _assert_one_line_stop(result, name)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BREAKER_FAILURE_RATE", "50%"),  # was read as 50.0: never opens
        ("BREAKER_FAILURE_RATE", "50"),  # a share: at most 1
        ("PROVIDER_READ_TIMEOUT", "10m"),  # was read as 10.0 seconds
        ("PROVIDER_READ_TIMEOUT", "2.5.1"),  # was read as 25.1
        ("PROVIDER_READ_TIMEOUT", "1,5"),  # was read as 1.5
        ("PROVIDER_READ_TIMEOUT", "-1"),
        ("PROVIDER_CONNECT_TIMEOUT", "0"),
        ("PROVIDER_DEADLINE_SECONDS", "nan"),
        ("PROVIDER_MAX_ATTEMPTS", "0"),
        ("STOREFRONT_WEBHOOK_READ_TIMEOUT", "-3"),
        ("Q_POLL_SECONDS", "0.5s"),
    ],
)
def test_a_number_setting_read_otherwise_than_written_stops_the_start(name, value):
    code = f"from django.conf import settings; print(settings.{name})"
    result = _run(code, DEBUG="true", **{name: value})
    assert result.returncode == 2, f"{name}={value!r} started as {result.stdout}"
    _assert_one_line_stop(result, name)


def test_number_settings_as_written_start():
    code = (
        "from django.conf import settings as s;"
        "print(s.BREAKER_FAILURE_RATE, s.PROVIDER_READ_TIMEOUT,"
        " s.RATE_LIMIT_MAX_WAIT_SECONDS)"
    )
    values = {
        "BREAKER_FAILURE_RATE": " 0.25 ",
        "PROVIDER_READ_TIMEOUT": "1e1",
        "RATE_LIMIT_MAX_WAIT_SECONDS": "0",  # 0: fail fast, allowed
    }
    result = _run(code, DEBUG="true", **values)
    assert result.returncode == 0, result.stderr[-800:]
    assert result.stdout.strip() == "0.25 10.0 0.0"


@pytest.mark.parametrize("sender", USABLE_SENDERS)
def test_a_usable_default_sender_starts(checked, sender):
    result = checked[_key({"EMAIL_DEFAULT_FROM": sender})]
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


# --- Booleans: django-environ reads anything it does not know as False ------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "ture"),  # was read as False without a word
        ("DEBUG", "yes please"),
        ("SECURE_SSL_REDIRECT", "treu"),
        ("SESSION_COOKIE_SECURE", "2"),
        ("Q_SYNC", ""),
        ("STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "enabled"),
    ],
)
def test_a_boolean_setting_outside_the_documented_words_stops_the_start(name, value):
    values = {"DEBUG": "true", **PUBLIC, name: value}
    result = _run("print('started')", **values)
    assert result.returncode == 2, f"{name}={value!r} started as {result.stdout}"
    line = _assert_one_line_stop(result, name)
    assert "true/false, 1/0, yes/no, on/off" in line


def test_every_documented_boolean_word_starts_in_any_case():
    code = (
        "from django.conf import settings as s; print(s.DEBUG, s.SECURE_HSTS_PRELOAD)"
    )
    words = {"true": True, "FALSE": False, "1": True, "0": False, "Yes": True}
    words |= {"no": False, "ON": True, "off": False, " true ": True}

    def start(word: str) -> subprocess.CompletedProcess:
        return _run(code, DEBUG=word, SECURE_HSTS_PRELOAD=word, **PUBLIC)

    # One process per word, started side by side: they share nothing.
    results = side_by_side({word: partial(start, word) for word in words})
    for word, meant in words.items():
        result = results[word]
        assert result.returncode == 0, f"{word!r}: {result.stderr[-400:]}"
        assert result.stdout.split() == [str(meant)] * 2, word
