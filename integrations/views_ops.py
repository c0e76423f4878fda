"""Endpoints for load balancers, orchestrators and Prometheus: ``/healthz``,
``/readyz``, ``/metrics`` (what each checks: docs/operations.md)."""

import hmac
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.redis import RedisCache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django_q.brokers import Broker, get_broker
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis as RedisBroker
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from integrations.metrics import render_metrics
from integrations.redis_line import outage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], None]
    # Checks that use a Django database connection stay in the request thread:
    # connections are per thread, and one opened in a helper thread would be
    # left open. Their bound is the database's own connect timeout.
    uses_database: bool
    # Asks Redis: its failure is noted in the one outage record (one warning
    # per outage, or the refusal's error), not warned per probe.
    uses_redis: bool = False


class CheckTimeout(Exception):
    """A readiness check did not answer in time."""


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = readiness_checks()
    results = _outcomes(checks)
    failing = [name for name, result in results.items() if result != "ok"]
    asked_redis = [check.name for check in checks if check.uses_redis]
    if asked_redis and not set(asked_redis) & set(failing):
        outage.answered()  # ends an outage this process noted (one line)
    body = {
        "status": "unavailable" if failing else "ok",
        "checks": results,
        "failing": failing,
    }
    response = JsonResponse(body, status=503 if failing else 200)
    # Each failing check was logged above (a Redis outage once); Django's
    # "Service Unavailable" ERROR on every probe would page every few seconds.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


@require_safe
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if token and not _bearer_matches(request, token):
        response = HttpResponse("authentication required\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = render_metrics()
    return HttpResponse(body, content_type=content_type)


def readiness_checks() -> list[Check]:
    # Resolved here, in the request thread: caches are per thread, and a
    # backend looked up in a helper thread would open a connection pool of
    # its own on every request.
    backend = caches[DEFAULT_CACHE_ALIAS]
    broker = task_broker()
    return [
        Check("database", check_database, uses_database=True),
        Check(
            "cache",
            partial(check_cache, backend),
            uses_database=isinstance(backend, DatabaseCache),
            uses_redis=isinstance(backend, RedisCache),
        ),
        Check(
            "broker",
            partial(check_broker, broker),
            uses_database=isinstance(broker, ORM),
            uses_redis=isinstance(broker, RedisBroker),
        ),
    ]


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache(backend: BaseCache) -> None:
    # A write and a read back: the breaker and rate limiter need both.
    key = f"readyz:{uuid.uuid4().hex}"
    value = uuid.uuid4().hex
    backend.set(key, value, timeout=30)
    try:
        if backend.get(key) != value:
            raise RuntimeError("cache returned a different value")
    finally:
        backend.delete(key)


def check_broker(broker: Broker) -> None:
    if isinstance(broker, ORM):
        # The ORM broker's ping() always says yes; counting its queue proves
        # the queue table answers.
        broker.queue_size()
    elif isinstance(broker, RedisBroker):
        # Its ping() logs an ERROR per failure; readyz notes it once instead.
        broker.connection.ping()
    elif not broker.ping():
        raise RuntimeError("broker did not answer the ping")


@cache
def task_broker() -> Broker:
    # One broker (and connection pool) per process rather than per request.
    return get_broker()


def _outcomes(checks: list[Check]) -> dict[str, str]:
    """Each check's outcome. The ones off the request thread start at once,
    side by side, under one deadline: a probe of a silent Redis waits
    READYZ_TIMEOUT_SECONDS once, not once per check."""
    seconds = settings.READYZ_TIMEOUT_SECONDS
    deadline = time.monotonic() + seconds
    waits = {
        check.name: partial(_start(check.run, seconds), deadline)
        for check in checks
        if not check.uses_database
    }
    return {
        check.name: _outcome(check, waits.get(check.name, check.run))
        for check in checks
    }


def _outcome(check: Check, run: Callable[[], None]) -> str:
    try:
        run()
    except Exception as exc:
        _note_failure(check, exc)
        return f"failed: {type(exc).__name__}"
    return "ok"


def _note_failure(check: Check, exc: Exception) -> None:
    if check.uses_redis and isinstance(exc, (RedisError, CheckTimeout)):
        # Redis's outage has one record: one warning per outage, not per probe
        # (a probe still asks: it answers about now, not the pause).
        noted = RedisTimeoutError(str(exc)) if isinstance(exc, CheckTimeout) else exc
        outage.failed(noted)
        return
    logger.warning(
        "readiness check failed",
        extra={"check": check.name, "error_class": type(exc).__name__},
    )


def _start(func: Callable[[], None], seconds: float) -> Callable[[float], None]:
    """Run ``func`` in a daemon thread from now; the returned wait, given a
    deadline, raises its error, or CheckTimeout if it has not ended by then."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            func()
        except BaseException as exc:  # handed to the caller below
            errors.append(exc)

    thread = threading.Thread(target=target, name="readyz-check", daemon=True)
    thread.start()

    def wait(deadline: float) -> None:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            # The thread is abandoned, not killed; being a daemon it cannot
            # keep the process alive, and a socket timeout ends it eventually.
            raise CheckTimeout(f"no answer within {seconds}s")
        if errors:
            raise errors[0]

    return wait


def _bearer_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, supplied = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not supplied:
        return False
    return hmac.compare_digest(supplied.strip().encode(), token.encode())
