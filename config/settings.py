"""Switchyard settings: one module, every knob read from the environment.

`.env.example` documents each variable. A `.env` file next to manage.py is read
if present (``make run`` writes one with fresh development secrets).
"""

from cryptography.fernet import Fernet

from config.checks import (
    DEFAULT_API_RATE,
    api_rate_problem,
    redis_url_problem,
    redis_url_with_timeouts,
)
from config.env import BASE_DIR, DEBUG, Q_RETRY, Q_TIMEOUT, Q_WORKERS, env, stop
from integrations.limits import SPECS as LIMIT_SPECS
from integrations.limits import InvalidNumber

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    stop("SECRET_KEY is not set (see .env.example)")

# Fernet keys, newest first; older keys still decrypt so they can be rotated out
# with `manage.py rotate_credentials`.
CREDENTIALS_ENCRYPTION_KEYS = env.list("CREDENTIALS_ENCRYPTION_KEYS", default=[])
if not CREDENTIALS_ENCRYPTION_KEYS:
    stop("CREDENTIALS_ENCRYPTION_KEYS is not set (see .env.example)")
for _position, _key in enumerate(CREDENTIALS_ENCRYPTION_KEYS, start=1):
    # Checked here, not at first decrypt, so a typo stops the start, not a payment.
    try:
        Fernet(_key.encode())
    except ValueError:
        stop(
            f"CREDENTIALS_ENCRYPTION_KEYS entry {_position} is not a Fernet key "
            "(32 url-safe base64-encoded bytes)"
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "config.apps.SwitchyardAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "integrations",
    "payments",
    "shipping",
    "inventory",
    "notifications",
    "storefront_hooks",
]

MIDDLEWARE = [
    "integrations.correlation.CorrelationIdMiddleware",
    # A control character in a path or query is a 400, never a database error.
    "integrations.api.input_guard.ControlCharacterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the worker read while one writes; IMMEDIATE
    # takes the write lock up front so transactions wait instead of failing
    # with "database is locked" half-way through.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # The webhook intake's INSERT is prepared once per connection (about 60 us
    # less PostgreSQL CPU per webhook); the ORM binds client-side and never
    # prepares. Set false behind PgBouncer in transaction mode older than
    # 1.21, which cannot route prepared statements.
    if env.bool("DB_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5

# PostgreSQL: `manage.py migrate` waits this long for a lock, then stops (run
# it again): queued behind a long transaction it would hold up every query.
MIGRATION_LOCK_TIMEOUT_MS = env.int("MIGRATION_LOCK_TIMEOUT_MS", default=5000)
if MIGRATION_LOCK_TIMEOUT_MS < 0:
    stop("MIGRATION_LOCK_TIMEOUT_MS must be 0 (no limit) or more")
if MIGRATION_LOCK_TIMEOUT_MS > 2**31 - 1:  # lock_timeout's own bound
    stop("MIGRATION_LOCK_TIMEOUT_MS must be at most 2147483647 (about 24 days)")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (breaker, rate limits, OAuth tokens: shared by every process) ---
REDIS_URL = env.str("REDIS_URL", default="").strip()
if REDIS_URL and (_problem := redis_url_problem(REDIS_URL)):
    stop(f"REDIS_URL {_problem} (redis://host:6379/0)")
# A Redis that drops packets is otherwise waited for per call: the OS's TCP
# timeout (redis-py 5) or 5 s (redis-py 8), several times per payment. On the
# private network it answers in under a millisecond: a second's silence is an
# outage, which its callers meet as a RedisError (docs/transport.md).
REDIS_CONNECT_TIMEOUT_SECONDS = env.float("REDIS_CONNECT_TIMEOUT_SECONDS", default=1.0)
REDIS_SOCKET_TIMEOUT_SECONDS = env.float("REDIS_SOCKET_TIMEOUT_SECONDS", default=1.0)
for _name in ("REDIS_CONNECT_TIMEOUT_SECONDS", "REDIS_SOCKET_TIMEOUT_SECONDS"):
    if globals()[_name] <= 0:
        stop(f"{_name} must be more than 0 seconds")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="switchyard"),
            # Passed to every connection, the breaker's and limiter's line too.
            "OPTIONS": {
                "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
                "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
            },
        }
    }
else:
    # The database cache is the one built-in backend that every local process
    # (web server and worker) sees the same way.
    CACHES = {
        "default": {
            # Django's own, but culling only expired rows, by the database's
            # clock: it holds locks, buckets and breaker state (cache_clock).
            "BACKEND": "integrations.cache_clock.DatabaseClockCache",
            "LOCATION": "switchyard_cache",
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="switchyard"),
            # Past this many rows each write first deletes the expired ones (a
            # COUNT and a DELETE): rarely, as breaker counters and throttle
            # histories keep thousands of rows live with many accounts.
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }

# --- Task queue (django-q2) -------------------------------------------------
Q_CLUSTER = {
    "name": "switchyard",
    "workers": Q_WORKERS,
    # A task that runs longer than `timeout` is killed; it is handed out again
    # only after `retry`, so `timeout` < `retry` stops double execution.
    "timeout": Q_TIMEOUT,
    "retry": Q_RETRY,
    "max_attempts": env.int("Q_MAX_ATTEMPTS", default=3),
    # Missed schedules run once, not once per missed slot, after downtime.
    "catch_up": False,
    "save_limit": env.int("Q_SAVE_LIMIT", default=1000),
    "ack_failures": True,
    "sync": env.bool("Q_SYNC", default=False),
    "label": "Task queue",
}
if REDIS_URL:
    # The broker's dequeue is a BLPOP that waits 1 s on the server: its reads
    # may take that second longer. Timeouts set in REDIS_URL's query win.
    Q_CLUSTER["redis"] = redis_url_with_timeouts(
        REDIS_URL,
        connect=REDIS_CONNECT_TIMEOUT_SECONDS,
        socket=REDIS_SOCKET_TIMEOUT_SECONDS + 1,
    )
    # Its enqueue obeys the Redis outage record: not a timeout per enqueue.
    Q_CLUSTER["broker_class"] = "integrations.task_broker.RedisTaskBroker"
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = env.float("Q_POLL_SECONDS", default=0.5)

# --- Auth, i18n, static ----------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.time_zone("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_BACKEND",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}
# Without collectstatic (development, tests) serve straight from the apps.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)

# --- Security (production values are in .env.example) ----------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False
)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Logging: JSON lines with the correlation id ---------------------------
LOG_LEVEL = env.log_level("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "correlation": {"()": "integrations.correlation.CorrelationIdFilter"},
        # Every account's known secrets are masked in every record.
        "secrets": {"()": "integrations.logging.SecretRedactionFilter"},
    },
    "formatters": {"json": {"()": "integrations.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["correlation", "secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's default handlers (console when DEBUG, mail_admins) do not
        # mask secrets: its records go through the root's console instead.
        "django": {"level": "INFO", "handlers": [], "propagate": True},
        "django.server": {"handlers": [], "propagate": True},
        "django.db.backends": {"level": "INFO"},
        "django-q": {"level": env.log_level("Q_LOG_LEVEL", default="WARNING")},
        # Provider SDKs log request details at INFO and below.
        "stripe": {"level": "WARNING"},
        "braintree": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # Amazon SES's SDK logs whole requests at DEBUG; anymail its payloads.
        "botocore": {"level": "WARNING"},
        "boto3": {"level": "WARNING"},
        "anymail": {"level": "WARNING"},
    },
}

# --- REST API ---------------------------------------------------------------
# Checked here: a rate DRF cannot read would make every API request a 500.
API_RATE = env.str("API_RATE", default=DEFAULT_API_RATE).strip()
if _problem := api_rate_problem(API_RATE):
    stop(f"API_RATE {_problem}, not {API_RATE!r}")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.api.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["integrations.api.permissions.HasScopes"],
    "DEFAULT_THROTTLE_CLASSES": ["integrations.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": API_RATE},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["integrations.api.parsers.StrictJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": (
        "integrations.api.negotiation.ApiContentNegotiation"
    ),
    "EXCEPTION_HANDLER": "integrations.api.errors.exception_handler",
    # AutoSchema plus each operation's scopes and list bounds.
    "DEFAULT_SCHEMA_CLASS": "integrations.api.schema.ApiAutoSchema",
    # Every list endpoint pages by cursor: ?limit= (at most API_MAX_PAGE_SIZE).
    "DEFAULT_PAGINATION_CLASS": "integrations.api.pagination.CursorPagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=20),
    "UNAUTHENTICATED_USER": None,
    # The API parses JSON only, so APIClient sends JSON unless told otherwise.
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# How often each process checks the shared stamp for changed secrets to redact.
SECRET_REDACTION_CHECK_SECONDS = env.float(
    "SECRET_REDACTION_CHECK_SECONDS", default=5.0
)
# Models whose rows hold secrets to mask (each has redaction_secrets()), and
# the columns those secrets are stored in (what a change to one must move).
SECRET_REDACTION_MODELS = {
    "integrations.ProviderAccount": ["credentials_encrypted"],
    "storefront_hooks.WebhookEndpoint": ["secrets_encrypted"],
}
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=100)
if not 1 <= REST_FRAMEWORK["PAGE_SIZE"] <= API_MAX_PAGE_SIZE:
    stop(
        f"API_PAGE_SIZE ({REST_FRAMEWORK['PAGE_SIZE']}) must be at least 1 and at "
        f"most API_MAX_PAGE_SIZE ({API_MAX_PAGE_SIZE})"
    )
SPECTACULAR_SETTINGS = {
    "TITLE": "Switchyard storefront API",
    "DESCRIPTION": "Payments, shipping, inventory and email for the storefront.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI would otherwise fetch a validity badge from validator.swagger.io:
    # the docs must work with no internet access.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        # Storefront webhook payloads as components (docs/storefront-webhooks.md).
        "storefront_hooks.schema.add_webhook_components",
    ],
    # Several models have a ``status``: each choice set gets its own name.
    "ENUM_NAME_OVERRIDES": {
        "ShipmentStatusEnum": "shipping.models.ShipmentStatus",
        "TrackingStatusEnum": "shipping.models.TrackingStatusChoice",
        "PickupStatusEnum": "shipping.models.PickupStatus",
        "LabelFormatEnum": "shipping.models.LabelFormatChoice",
        "EmailStatusEnum": "notifications.models.EmailStatus",
        "EmailCategoryEnum": "notifications.models.messages.CATEGORY_CHOICES",
    },
}

# Idempotency-Key records are replayable for this long, then pruned.
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# A request still "in flight" after this long is taken to have died with its
# worker (killed on timeout), so a retry may run instead of a 409 for a day.
IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS = env.int(
    "IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS", default=300
)

# --- Integrations -------------------------------------------------------------
# Adapters by kind and provider code, as dotted paths: resolved lazily, so a
# typo fails with a clear error when that provider is used, not at import.
SWITCHYARD_ADAPTERS = {
    "payments": {
        "sandbox": "payments.providers.sandbox.SandboxPaymentsAdapter",
        "paypal": "payments.providers.paypal.PayPalAdapter",
        "braintree": "payments.providers.braintree.BraintreeAdapter",
        "stripe": "payments.providers.stripe.StripeAdapter",
        "square": "payments.providers.square.SquareAdapter",
    },
    "shipping": {
        "sandbox": "shipping.providers.sandbox.SandboxShippingAdapter",
        "fedex": "shipping.providers.fedex.FedExAdapter",
        "ups": "shipping.providers.ups.UPSAdapter",
        "shippo": "shipping.providers.shippo.ShippoAdapter",
        "dhl_express": "shipping.providers.dhl_express.DHLExpressAdapter",
        "usps": "shipping.providers.usps.USPSAdapter",
    },
    "inventory": {
        "sandbox": "inventory.providers.sandbox.SandboxInventoryAdapter",
        "netsuite": "inventory.providers.netsuite.NetSuiteAdapter",
        "tradegecko": "inventory.providers.tradegecko.TradeGeckoAdapter",
        "http_stock": "inventory.providers.http_stock.HttpStockAdapter",
    },
    "email": {
        "sandbox": "notifications.providers.sandbox.SandboxEmailAdapter",
        "sendgrid": "notifications.providers.sendgrid.SendGridAdapter",
        "mailgun": "notifications.providers.mailgun.MailgunAdapter",
        "postmark": "notifications.providers.postmark.PostmarkAdapter",
        "amazon_ses": "notifications.providers.amazon_ses.AmazonSesAdapter",
        "smtp": "notifications.providers.smtp.SmtpAdapter",
    },
}

# Sandbox providers post signed webhooks about what they did to this base URL
# plus the account's /webhooks/<slug>/ (what `make run` serves; empty: off),
# this long after the change, retried from this base back-off (doubling) up
# to this many attempts.
SANDBOX_WEBHOOK_BASE_URL = env.str(
    "SANDBOX_WEBHOOK_BASE_URL", default="http://127.0.0.1:8000"
)
SANDBOX_WEBHOOK_DELAY_SECONDS = env.float("SANDBOX_WEBHOOK_DELAY_SECONDS", default=2.0)
SANDBOX_WEBHOOK_MAX_ATTEMPTS = env.int("SANDBOX_WEBHOOK_MAX_ATTEMPTS", default=6)
SANDBOX_WEBHOOK_RETRY_BASE_SECONDS = env.float(
    "SANDBOX_WEBHOOK_RETRY_BASE_SECONDS", default=30.0
)

# --- Webhook intake and domain events (outbox): config/outbox.py ----------
from config.outbox import *  # noqa: E402, F403

# --- Batch jobs (integrations.batch) ------------------------------------------
# Rows claimed per round trip; a job may set its own.
BATCH_CHUNK_SIZE = env.int("BATCH_CHUNK_SIZE", default=100)
# A task works chunks this long, then enqueues the job again (under Q_TIMEOUT).
BATCH_TIME_BUDGET_SECONDS = env.float(
    "BATCH_TIME_BUDGET_SECONDS", default=Q_CLUSTER["timeout"] / 2
)
BATCH_MAX_ATTEMPTS = env.int("BATCH_MAX_ATTEMPTS", default=5)
BATCH_RETRY_BASE_SECONDS = env.int("BATCH_RETRY_BASE_SECONDS", default=30)
BATCH_RETRY_MAX_SECONDS = env.int("BATCH_RETRY_MAX_SECONDS", default=3600)
# The sweeper restarts a job no worker has touched for this long.
BATCH_SWEEP_AFTER_MINUTES = env.int("BATCH_SWEEP_AFTER_MINUTES", default=2)
# A dead worker's rows come back after this (above Q_TIMEOUT: never a live one's).
BATCH_LEASE_SECONDS = env.int("BATCH_LEASE_SECONDS", default=300)
# How long a job waits when rate-limited without a Retry-After.
BATCH_PACE_SECONDS = env.float("BATCH_PACE_SECONDS", default=5.0)

# --- Provider calls (integrations.client) -----------------------------------
# Defaults for every account; an account overrides any of them through its
# settings JSON with the key in brackets (see integrations.client).
# Connect timeout slightly above a TCP retransmit window (3 s). [connect_timeout]
PROVIDER_CONNECT_TIMEOUT = env.float("PROVIDER_CONNECT_TIMEOUT", default=3.05)
# Longest silence while reading a response, per attempt. [read_timeout]
PROVIDER_READ_TIMEOUT = env.float("PROVIDER_READ_TIMEOUT", default=15.0)
# Whole operation, retries and back-off included. [deadline_seconds]
PROVIDER_DEADLINE_SECONDS = env.float("PROVIDER_DEADLINE_SECONDS", default=30.0)
# Attempts per operation, the first included. [max_attempts]
PROVIDER_MAX_ATTEMPTS = env.int("PROVIDER_MAX_ATTEMPTS", default=3)
# Full-jitter back-off: sleep uniform(0, min(cap, base * 2**retry)).
# [backoff_base_seconds] [backoff_cap_seconds]
PROVIDER_BACKOFF_BASE_SECONDS = env.float("PROVIDER_BACKOFF_BASE_SECONDS", default=0.25)
PROVIDER_BACKOFF_CAP_SECONDS = env.float("PROVIDER_BACKOFF_CAP_SECONDS", default=5.0)
# A Retry-After longer than this is not waited for: the call fails as
# not_processed (carrying retry_after) instead. [retry_after_cap_seconds]
PROVIDER_RETRY_AFTER_CAP_SECONDS = env.float(
    "PROVIDER_RETRY_AFTER_CAP_SECONDS", default=10.0
)
# A paced (bulk) call waits out at most this many provider 429s, then raises
# Paced: a provider that keeps answering "Retry-After: 0" is not hammered for
# the whole pacing budget. [max_throttled_attempts]
PROVIDER_MAX_THROTTLED_ATTEMPTS = env.int("PROVIDER_MAX_THROTTLED_ATTEMPTS", default=10)
# ProviderCall rows older than this are deleted by a daily job.
PROVIDER_CALL_RETENTION_DAYS = env.int("PROVIDER_CALL_RETENTION_DAYS", default=30)
# A finished call's log row is written by a background thread per process,
# batched over this many milliseconds, so the caller does not wait for the
# database (PostgreSQL, outside a caller's transaction). 0: written in the call.
PROVIDER_CALL_LOG_LINGER_MS = env.float("PROVIDER_CALL_LOG_LINGER_MS", default=50.0)

# --- Health and operations endpoints (integrations.views_ops, .health) -------
# The /readyz cache and broker checks run side by side and get this long.
READYZ_TIMEOUT_SECONDS = env.float("READYZ_TIMEOUT_SECONDS", default=2.0)
# Empty: /metrics is open (scraped from the internal network). Set: the scraper
# must send "Authorization: Bearer <token>".
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Probes and scrapers talk plain HTTP to the process.
SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz|metrics)$"]
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    # libpq waits forever for a connection by default; /readyz and every
    # request should fail fast instead when the database is unreachable.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5)
    )

# --- Circuit breaker and rate limits (integrations.breaker, .ratelimit) ------
# Defaults for every account; each is overridable per account through the
# lower-case key in ProviderAccount.settings (e.g. "breaker_open_seconds").
# Trip on this share of failed calls in the window, once BREAKER_MIN_CALLS
# calls were made in it...
BREAKER_FAILURE_RATE = env.float("BREAKER_FAILURE_RATE", default=0.5)
BREAKER_MIN_CALLS = env.int("BREAKER_MIN_CALLS", default=20)
BREAKER_WINDOW_SECONDS = env.float("BREAKER_WINDOW_SECONDS", default=60.0)
# (the window is counted in this many buckets; settings only)
BREAKER_WINDOW_BUCKETS = env.int("BREAKER_WINDOW_BUCKETS", default=6)
# ...or on this many failures in a row.
BREAKER_CONSECUTIVE_FAILURES = env.int("BREAKER_CONSECUTIVE_FAILURES", default=5)
# Open this long before one probe is let through.
BREAKER_OPEN_SECONDS = env.float("BREAKER_OPEN_SECONDS", default=30.0)
# A probe that has not reported back after this long (crashed worker) is
# replaced by another; keep it above the longest operation deadline.
BREAKER_PROBE_TIMEOUT_SECONDS = env.float("BREAKER_PROBE_TIMEOUT_SECONDS", default=60.0)
# A 429/503 Retry-After keeps the breaker open until then, at most this long;
# parse_retry_after clamps every Retry-After to it (retry_after_ceiling).
BREAKER_MAX_RETRY_AFTER_SECONDS = env.float(
    "BREAKER_MAX_RETRY_AFTER_SECONDS", default=600.0
)
# Rate limits are off unless an account sets "rate_limit_per_second" (and
# optionally "rate_limit_burst"); a call waits at most this long for a token.
RATE_LIMIT_MAX_WAIT_SECONDS = env.float("RATE_LIMIT_MAX_WAIT_SECONDS", default=2.0)
# With "max_concurrency" set on an account: wait this long for a free slot...
CONCURRENCY_MAX_WAIT_SECONDS = env.float("CONCURRENCY_MAX_WAIT_SECONDS", default=1.0)
# ...and reclaim a slot held longer than this (its worker died mid-call).
CONCURRENCY_SLOT_TTL_SECONDS = env.float("CONCURRENCY_SLOT_TTL_SECONDS", default=300.0)
# Shared OAuth client-credentials tokens (integrations.oauth) are fetched again
# this long before the provider says they expire.
OAUTH_TOKEN_EXPIRY_MARGIN_SECONDS = env.float(
    "OAUTH_TOKEN_EXPIRY_MARGIN_SECONDS", default=300.0
)

# The bounds an account's own value must meet (integrations.limits) hold for
# the defaults too: BREAKER_FAILURE_RATE=50 would never open the breaker.
for _spec in LIMIT_SPECS:
    if _spec.setting is not None:
        try:
            _spec.parse(globals()[_spec.setting])
        except InvalidNumber as _error:
            stop(f"{_spec.setting} is {globals()[_spec.setting]:g}: {_error}")

# --- The domain apps' settings (payments, fraud, shipping, email, storefront
# webhooks) live in config/domains.py, read the same way.
from config.domains import *  # noqa: E402, F403
