import pytest
import redis
from django.db import OperationalError, connection
from django.test import override_settings
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis as RedisBroker
from redis.backoff import NoBackoff
from redis.retry import Retry

from integrations import metrics, views_ops

# The suite's autouse cache reset needs the database (DB cache) in every test.
pytestmark = pytest.mark.django_db

REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"


def _redis_broker_on(port: int) -> RedisBroker:
    """django-q2's real Redis broker, connected to 127.0.0.1:``port``."""

    class Broker(RedisBroker):
        @staticmethod
        def get_connection(list_key: str | None = None) -> redis.Redis:
            # No client-side retries, so a refusal shows as one ConnectionError.
            return redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))

    return Broker()


def test_healthz_answers_without_touching_the_database(
    client, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_refuses_post(client):
    assert client.post("/healthz").status_code == 405


def test_readyz_ok_when_every_part_answers(client):
    response = client.get("/readyz")

    assert response.status_code == 200, response.json()
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "broker": "ok"},
        "failing": [],
    }


def test_readyz_names_the_database_when_it_fails(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("could not connect to server: password=hunter2")

    monkeypatch.setattr(connection, "cursor", refuse)

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "failed: OperationalError"
    assert "database" in body["failing"]
    assert "hunter2" not in response.content.decode()


def test_readyz_names_the_cache_when_redis_is_unreachable(client, closed_port):
    location = f"redis://127.0.0.1:{closed_port}/0"
    with override_settings(
        CACHES={"default": {"BACKEND": REDIS_CACHE, "LOCATION": location}}
    ):
        response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["cache"]
    assert body["checks"]["cache"] == "failed: ConnectionError"
    assert body["checks"]["database"] == "ok"


def test_readyz_names_the_broker_when_redis_refuses(client, monkeypatch, closed_port):
    monkeypatch.setattr(views_ops, "task_broker", lambda: _redis_broker_on(closed_port))

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]
    assert response.json()["checks"]["broker"] == "failed: ConnectionError"


def test_readyz_gives_up_on_a_broker_that_never_answers(
    client, monkeypatch, settings, silent_port
):
    settings.READYZ_TIMEOUT_SECONDS = 0.2
    monkeypatch.setattr(views_ops, "task_broker", lambda: _redis_broker_on(silent_port))

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "failed: CheckTimeout"


def test_orm_broker_is_checked_through_its_queue_table(monkeypatch):
    calls = []
    monkeypatch.setattr(ORM, "queue_size", lambda self: calls.append(self) or 0)

    views_ops.check_broker(ORM(list_key="switchyard"))

    assert len(calls) == 1


@pytest.mark.redis
def test_readyz_ok_with_redis_cache_and_broker(client):
    assert isinstance(views_ops.task_broker(), RedisBroker)

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {
        "database": "ok",
        "cache": "ok",
        "broker": "ok",
    }


@pytest.mark.postgres
def test_readyz_ok_on_postgresql(client):
    assert connection.vendor == "postgresql"

    assert client.get("/readyz").status_code == 200


def test_metrics_serves_prometheus_text(client):
    metrics.record_call(
        account_slug="metrics-view-test",
        operation="charge",
        outcome="success",
        duration_seconds=0.012,
        attempts=1,
    )

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    body = response.content.decode()
    assert "# TYPE switchyard_provider_calls_total counter" in body
    assert (
        'switchyard_provider_calls_total{account="metrics-view-test",'
        'operation="charge",outcome="success"}' in body
    )


@override_settings(METRICS_TOKEN="scrape-token-123")
@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer wrong-token", 401),
        ("Basic scrape-token-123", 401),
        ("Bearer scrape-token-123", 200),
    ],
)
def test_metrics_token(client, header, status):
    headers = {"Authorization": header} if header else {}

    response = client.get("/metrics", headers=headers)

    assert response.status_code == status
    if status == 401:
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert b"switchyard_" not in response.content
