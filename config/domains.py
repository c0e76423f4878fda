"""Settings of the domain apps (fraud screening, payments, storefront webhooks,
shipping, inventory, email), read from the environment like config/settings.py, which
imports them. `.env.example` documents each variable."""

from config.checks import (
    public_https_url_problem,
    retry_schedule_problem,
    sender_address_problem,
    url_shown,
)
from config.env import DEBUG, Q_WORKERS, env, stop

# --- Fraud screening (payments.fraud) ----------------------------------------


def _keyed_ints(name: str, default: str, *, upper_keys: bool = False) -> dict[str, int]:
    """Parse "USD:100000,JPY:15000000" into {"USD": 100000, "JPY": 15000000}."""
    result: dict[str, int] = {}
    for item in env.str(name, default=default).split(","):
        key, _, number = item.strip().partition(":")
        if not key:
            continue
        try:
            result[key.strip().upper() if upper_keys else key.strip()] = int(number)
        except ValueError:
            stop(f"{name}: {item.strip()!r} is not KEY:INTEGER")
    return result


# Payments above the currency's amount, in minor units, score
# amount_over_threshold; staff override one currency in the admin. Currencies
# listed nowhere are not checked.
FRAUD_AMOUNT_THRESHOLDS = _keyed_ints(
    "FRAUD_AMOUNT_THRESHOLDS",
    "USD:100000,EUR:90000,GBP:80000,JPY:15000000,KWD:30000",
    upper_keys=True,
)
# Velocity: this many payments (any status) by one customer / email / IP within
# the window makes the next one score velocity_*. 0 turns a check off.
FRAUD_VELOCITY_WINDOW_MINUTES = env.int("FRAUD_VELOCITY_WINDOW_MINUTES", default=60)
FRAUD_VELOCITY_MAX_PER_CUSTOMER = env.int("FRAUD_VELOCITY_MAX_PER_CUSTOMER", default=5)
FRAUD_VELOCITY_MAX_PER_EMAIL = env.int("FRAUD_VELOCITY_MAX_PER_EMAIL", default=5)
FRAUD_VELOCITY_MAX_PER_IP = env.int("FRAUD_VELOCITY_MAX_PER_IP", default=10)
# Points per reason code (rule); the score is their sum, capped at 100.
FRAUD_RULE_SCORES = _keyed_ints(
    "FRAUD_RULE_SCORES",
    "amount_over_threshold:40,velocity_customer:35,velocity_email:35,"
    "velocity_ip:35,country_mismatch:30,blocklisted_email:100,"
    "blocklisted_ip:100,blocklisted_card:100",
)
# score >= HIGH: blocked, no gateway called; score >= MEDIUM: authorize only
# and wait in the admin's review queue.
FRAUD_LEVEL_MEDIUM = env.int("FRAUD_LEVEL_MEDIUM", default=30)
FRAUD_LEVEL_HIGH = env.int("FRAUD_LEVEL_HIGH", default=70)
if not 0 < FRAUD_LEVEL_MEDIUM <= FRAUD_LEVEL_HIGH:
    stop("FRAUD_LEVEL_MEDIUM must be above 0 and at most FRAUD_LEVEL_HIGH")

# --- Payments (payments.services) -------------------------------------------
# An unknown outcome is reconciled this long after it happened (a one-off
# django-q2 schedule); the periodic sweep (every 5 minutes) is the backstop.
PAYMENTS_RECONCILE_DELAY_SECONDS = env.int(
    "PAYMENTS_RECONCILE_DELAY_SECONDS", default=60
)
# pending / requires_action payments untouched this long are reconciled too.
PAYMENTS_RECONCILE_AFTER_MINUTES = env.int(
    "PAYMENTS_RECONCILE_AFTER_MINUTES", default=30
)
PAYMENTS_RECONCILE_BATCH = env.int("PAYMENTS_RECONCILE_BATCH", default=200)
# An unknown payment older than this goes to the review queue (an alert).
PAYMENTS_UNKNOWN_REVIEW_HOURS = env.int("PAYMENTS_UNKNOWN_REVIEW_HOURS", default=24)
PAYMENTS_RECURRING_BATCH = env.int("PAYMENTS_RECURRING_BATCH", default=200)
# Retries (resumes after a soft decline) of one recurring charge on one card
# within 30 days; card networks fine more (Visa: 15 in 30 days).
RECURRING_SOFT_DECLINE_RETRY_LIMIT = env.int(
    "RECURRING_SOFT_DECLINE_RETRY_LIMIT", default=15
)

# --- Storefront webhooks (storefront_hooks) ------------------------------------
# Requests to private, loopback and link-local addresses are refused unless on
# (development and tests only).
STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool(
    "STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False
)
# Seconds to wait after the 1st, 2nd, ... failed attempt (+-20 % jitter; the
# last step repeats): about three days in all. One attempt more than steps.
STOREFRONT_WEBHOOK_RETRY_SCHEDULE: list[int] = env.list(
    "STOREFRONT_WEBHOOK_RETRY_SCHEDULE",
    cast=int,
    default=["5", "300", "1800", "7200", "18000"] + ["36000"] * 6,
)
if _problem := retry_schedule_problem(STOREFRONT_WEBHOOK_RETRY_SCHEDULE):
    stop(f"STOREFRONT_WEBHOOK_RETRY_SCHEDULE {_problem}: e.g. 5,300,1800,7200")
STOREFRONT_WEBHOOK_MAX_ATTEMPTS = len(STOREFRONT_WEBHOOK_RETRY_SCHEDULE) + 1
# An endpoint whose deliveries all failed this long is disabled.
STOREFRONT_WEBHOOK_DISABLE_AFTER_HOURS = env.int(
    "STOREFRONT_WEBHOOK_DISABLE_AFTER_HOURS", default=60
)
# After a rotation the old secret keeps signing this long.
STOREFRONT_WEBHOOK_SECRET_OVERLAP_HOURS = env.float(
    "STOREFRONT_WEBHOOK_SECRET_OVERLAP_HOURS", default=24.0
)
STOREFRONT_WEBHOOK_CONNECT_TIMEOUT = env.float(
    "STOREFRONT_WEBHOOK_CONNECT_TIMEOUT", default=3.0
)
STOREFRONT_WEBHOOK_READ_TIMEOUT = env.float(
    "STOREFRONT_WEBHOOK_READ_TIMEOUT", default=10.0
)
# requests refuses a timeout of zero or less on every delivery.
for _name in ("STOREFRONT_WEBHOOK_CONNECT_TIMEOUT", "STOREFRONT_WEBHOOK_READ_TIMEOUT"):
    if globals()[_name] <= 0:
        stop(f"{_name} must be above zero (seconds)")
# Bytes of a receiver's answer read and kept on the delivery.
STOREFRONT_WEBHOOK_RESPONSE_MAX_BYTES = env.int(
    "STOREFRONT_WEBHOOK_RESPONSE_MAX_BYTES", default=1024
)
STOREFRONT_WEBHOOK_RETRY_BASE_SECONDS = 0  # unused: the schedule above rules
STOREFRONT_WEBHOOK_RETRY_MAX_SECONDS = 0
STOREFRONT_WEBHOOK_SWEEP_AFTER_MINUTES = env.int(
    "STOREFRONT_WEBHOOK_SWEEP_AFTER_MINUTES", default=2
)
# A claimed delivery whose worker is silent this long is taken back.
STOREFRONT_WEBHOOK_LEASE_SECONDS = env.int(
    "STOREFRONT_WEBHOOK_LEASE_SECONDS", default=120
)
STOREFRONT_WEBHOOK_SWEEP_BATCH = env.int("STOREFRONT_WEBHOOK_SWEEP_BATCH", default=500)
# Deliveries in flight at once to one endpoint, all workers together (0: no
# cap): a slow receiver holds this many workers at most; the rest wait. By
# default one below a qcluster's workers (at least 1), so one worker stays free.
STOREFRONT_WEBHOOK_MAX_IN_FLIGHT = env.int(
    "STOREFRONT_WEBHOOK_MAX_IN_FLIGHT", default=max(1, Q_WORKERS - 1)
)
if STOREFRONT_WEBHOOK_MAX_IN_FLIGHT < 0:
    stop("STOREFRONT_WEBHOOK_MAX_IN_FLIGHT must be 0 (no cap) or more")
# A retry due within this many seconds gets its own one-off django-q2 schedule
# (the 5 s and 5 min steps); later ones, and any lost, the every-minute sweep.
STOREFRONT_WEBHOOK_SCHEDULED_RETRY_MAX_SECONDS = env.int(
    "STOREFRONT_WEBHOOK_SCHEDULED_RETRY_MAX_SECONDS", default=900
)
# A delivery not made within this many hours of its event, or of staff's last
# restart of it (Enable, Send again), is given up (dead), paused ones included;
# above the retry schedule's span (81 h with jitter).
STOREFRONT_WEBHOOK_MAX_AGE_HOURS = env.int(
    "STOREFRONT_WEBHOOK_MAX_AGE_HOURS", default=96
)
# --- Shipping (shipping.services) -------------------------------------------
# Rate shopping: every carrier is asked at once and the answer is returned
# within this many seconds, carriers still out marked as timed out.
SHIPPING_RATE_DEADLINE_SECONDS = env.float(
    "SHIPPING_RATE_DEADLINE_SECONDS", default=5.0
)
# A repeat of the same request within this answers from the cache.
SHIPPING_RATE_CACHE_SECONDS = env.int("SHIPPING_RATE_CACHE_SECONDS", default=300)
# A quote may be bought for this long after it was made.
SHIPPING_QUOTE_TTL_SECONDS = env.int("SHIPPING_QUOTE_TTL_SECONDS", default=900)
# Tracking refresh: shipments not asked about for this long are polled.
SHIPPING_TRACKING_REFRESH_MINUTES = env.int(
    "SHIPPING_TRACKING_REFRESH_MINUTES", default=60
)

# --- Email (notifications) ------------------------------------------------
# Notifications: the sender when a message names none; the public base URL of
# unsubscribe links; a queued message left this long is enqueued again, one
# left "sending" this long (its worker died) becomes unknown and is never
# resent; sends given up after this many attempts with no provider available.
EMAIL_DEFAULT_FROM = env.str("EMAIL_DEFAULT_FROM", default="shop@example.com")
if _problem := sender_address_problem(EMAIL_DEFAULT_FROM):
    stop(f"EMAIL_DEFAULT_FROM {_problem}: set one sender, e.g. Shop <shop@example.com>")
# Empty is unset (an `EMAIL_PUBLIC_BASE_URL=` line in .env): with DEBUG the
# default, not relative links; without DEBUG refused below as not set.
EMAIL_PUBLIC_BASE_URL = env.str("EMAIL_PUBLIC_BASE_URL", default="").strip() or (
    "http://127.0.0.1:8000" if DEBUG else ""
)
# RFC 8058: the one-click link must be https, and mail leaves this machine.
if not DEBUG and (_problem := public_https_url_problem(EMAIL_PUBLIC_BASE_URL)):
    _shown = f" ({_host})" if (_host := url_shown(EMAIL_PUBLIC_BASE_URL)) else ""
    stop(
        f"EMAIL_PUBLIC_BASE_URL{_shown} {_problem}: set it to this service's "
        "public https:// address (unsubscribe links in marketing mail)"
    )
EMAIL_RETRY_AFTER_SECONDS = env.int("EMAIL_RETRY_AFTER_SECONDS", default=60)
# A batch row waiting on its own (``Defer``: a bulk row only a paused account
# could send), and a single email waiting for a paused account, waits twice as
# long each time, from EMAIL_RETRY_AFTER_SECONDS, up to this: a long pause does
# not keep the workers on every row (or the sweeper on every message) each minute.
BATCH_DEFER_MAX_SECONDS = env.float("BATCH_DEFER_MAX_SECONDS", default=1800.0)
# An email account's breaker closing by itself (a probe went through) wakes
# the sends waiting for a paused account at most once this long per account:
# a flapping breaker does not enqueue every waiting send at each close.
EMAIL_WAKE_INTERVAL_SECONDS = env.int("EMAIL_WAKE_INTERVAL_SECONDS", default=300)
EMAIL_STUCK_SENDING_MINUTES = env.int("EMAIL_STUCK_SENDING_MINUTES", default=10)
EMAIL_MAX_ATTEMPTS = env.int("EMAIL_MAX_ATTEMPTS", default=5)

# --- Inventory (inventory.services) ---------------------------------------
# A reservation holds stock this long unless the request asks otherwise, within
# the bounds below (seconds).
INVENTORY_RESERVATION_TTL_SECONDS = env.int(
    "INVENTORY_RESERVATION_TTL_SECONDS", default=900
)
INVENTORY_RESERVATION_TTL_MIN_SECONDS = env.int(
    "INVENTORY_RESERVATION_TTL_MIN_SECONDS", default=60
)
INVENTORY_RESERVATION_TTL_MAX_SECONDS = env.int(
    "INVENTORY_RESERVATION_TTL_MAX_SECONDS", default=86400
)
# A reservation made without ttl_seconds gets the default: one the API would
# refuse if sent, or 0 (nothing held), is an operator's typo.
if not (
    1
    <= INVENTORY_RESERVATION_TTL_MIN_SECONDS
    <= INVENTORY_RESERVATION_TTL_SECONDS
    <= INVENTORY_RESERVATION_TTL_MAX_SECONDS
):
    stop(
        "need 1 <= INVENTORY_RESERVATION_TTL_MIN_SECONDS <= "
        "INVENTORY_RESERVATION_TTL_SECONDS <= INVENTORY_RESERVATION_TTL_MAX_SECONDS, "
        f"not {INVENTORY_RESERVATION_TTL_MIN_SECONDS} <= "
        f"{INVENTORY_RESERVATION_TTL_SECONDS} <= "
        f"{INVENTORY_RESERVATION_TTL_MAX_SECONDS}"
    )
# Available units at or below this are "low" (a stock level may set its own).
INVENTORY_LOW_STOCK_THRESHOLD = env.int("INVENTORY_LOW_STOCK_THRESHOLD", default=5)
# Levels asked per ERP page during a sync (an adapter caps it).
INVENTORY_SYNC_PAGE_SIZE = env.int("INVENTORY_SYNC_PAGE_SIZE", default=1000)
# An incremental sync asks for levels changed since the previous complete
# run started, less this margin: ERP clocks drift, and an ERP may stamp a
# change when its transaction began but show it only once it commits.
INVENTORY_SYNC_SINCE_MARGIN_SECONDS = env.int(
    "INVENTORY_SYNC_SINCE_MARGIN_SECONDS", default=300
)
# The schedule's sync of an account is a full one when its last complete full
# sync is older than this: what an incremental run cannot see (a figure it
# held back while a confirm awaited the ERP, a change stamped too early) is
# read again at least this often.
INVENTORY_SYNC_FULL_EVERY_HOURS = env.int("INVENTORY_SYNC_FULL_EVERY_HOURS", default=24)
# A full sync asks the ERP (where it looks items up: TradeGecko) about each
# level its listing missed before setting it to 0 as gone: at most this many
# SKUs a run (the rest are set to 0 on the listing's word, noted on the run).
INVENTORY_SYNC_GONE_LOOKUPS = env.int("INVENTORY_SYNC_GONE_LOOKUPS", default=25)
# A sync task applies pages for this long, then hands the run to a fresh task
# (a page is never cut): kept under Q_TIMEOUT. Unset: half of Q_TIMEOUT.
INVENTORY_SYNC_TIME_BUDGET_SECONDS = env.float(
    "INVENTORY_SYNC_TIME_BUDGET_SECONDS", default=None
)
# A sync task's hold on its run, renewed with every page: a run nobody has
# held this long (its task lost, its worker dead) is resumed by the schedule
# from its last page. Above Q_TIMEOUT, so a live worker is never overtaken.
INVENTORY_SYNC_LEASE_SECONDS = env.int("INVENTORY_SYNC_LEASE_SECONDS", default=300)
# Holds forwarded to an ERP that keeps its own (inventory.services.forwarding):
# tries per forward, backoff base and cap (seconds), when a queued one counts as
# lost (minutes) and how long a worker's claim lasts (seconds).
INVENTORY_FORWARD_MAX_ATTEMPTS = env.int("INVENTORY_FORWARD_MAX_ATTEMPTS", default=8)
INVENTORY_FORWARD_RETRY_BASE_SECONDS = env.int(
    "INVENTORY_FORWARD_RETRY_BASE_SECONDS", default=30
)
INVENTORY_FORWARD_RETRY_MAX_SECONDS = env.int(
    "INVENTORY_FORWARD_RETRY_MAX_SECONDS", default=3600
)
INVENTORY_FORWARD_SWEEP_AFTER_MINUTES = env.int(
    "INVENTORY_FORWARD_SWEEP_AFTER_MINUTES", default=2
)
INVENTORY_FORWARD_LEASE_SECONDS = env.int(
    "INVENTORY_FORWARD_LEASE_SECONDS", default=300
)

# Last: every setting is read, and a tighter rule of its own has had its say.
env.refuse_negative_numbers()
