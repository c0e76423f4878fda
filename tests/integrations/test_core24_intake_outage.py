"""The webhook intake while Redis (cache and task broker) is down. Nothing
is refused for the outage (the time check takes this host's clock): every
signed delivery is stored and answered 200, and its row waits for the
sweeper. The outage is one warning for all of them; before, each delivery
also logged an ERROR with a traceback for its failed enqueue (and waited
the broker's timeout). A forged delivery is still refused and logged as
ever: that line is about the sender, not the outage."""

import logging
from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django_q.conf import Conf

from config.checks import redis_url_with_timeouts
from integrations import redis_line
from integrations.breaker.store import forget_recent
from integrations.models import WebhookEvent
from integrations.redis_line import outage
from integrations.task_batcher import shared_broker
from integrations.webhooks import views
from tests.factories import ProviderAccountFactory
from tests.integrations.redis_black_holes import Silent, timed, watched
from tests.integrations.test_revcore20_webhook_clock_outage import ClosingPort
from tests.integrations.webhooks.conftest import SECRET, make_body, sw_headers

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

DELIVERIES = 4


@pytest.fixture
def redis_down(monkeypatch, settings) -> Iterator[None]:
    cache_port, broker = ClosingPort(), Silent()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{cache_port.port}/0",
        }
    }
    url = redis_url_with_timeouts(
        broker.url,
        connect=django_settings.REDIS_CONNECT_TIMEOUT_SECONDS,
        socket=django_settings.REDIS_SOCKET_TIMEOUT_SECONDS + 1,
    )
    monkeypatch.setattr(Conf, "REDIS", url)
    monkeypatch.setattr(Conf, "SYNC", False)
    settings.WEBHOOK_ENQUEUE_LINGER_MS = 0  # enqueued in the request
    shared_broker.cache_clear()
    forget_recent()
    outage.forget()
    try:
        with watched(broker):
            yield
    finally:
        cache_port.close()
        broker.close()
        shared_broker.cache_clear()
        outage.forget()


def _post(slug: str, capture, *, secret: str = SECRET) -> int:
    body = make_body(amount=100)
    with capture(execute=True):
        return (
            Client()
            .post(
                f"/webhooks/{slug}/",
                data=body,
                content_type="application/json",
                **sw_headers(body, secret=secret),
            )
            .status_code
        )


def test_deliveries_in_an_outage_are_stored_with_one_warning(
    redis_down, django_capture_on_commit_callbacks, caplog
):
    caplog.set_level(logging.INFO)
    account = ProviderAccountFactory(slug="sbx-pay")
    for _ in range(DELIVERIES):
        took, status = timed(
            lambda: _post(account.slug, django_capture_on_commit_callbacks)
        )
        assert status == 200
        assert took < 1.0, f"{took:.2f} s"  # the broker's timeout not waited
    rows = WebhookEvent.objects.filter(account=account)
    assert rows.count() == DELIVERIES
    assert set(rows.values_list("status", flat=True)) == {"received"}
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in loud] == [redis_line.logger.name], loud


def test_a_forged_delivery_in_an_outage_is_refused_as_ever(
    redis_down, django_capture_on_commit_callbacks, caplog
):
    caplog.set_level(logging.INFO)
    account = ProviderAccountFactory(slug="sbx-pay")
    assert _post(account.slug, django_capture_on_commit_callbacks) == 200
    forged = "whsec_Zm9yZ2VkZm9yZ2Vk"
    assert _post(account.slug, django_capture_on_commit_callbacks, secret=forged) == 401
    assert WebhookEvent.objects.filter(account=account).count() == 1
    refused = [r for r in caplog.records if r.name == views.logger.name]
    assert [r.getMessage() for r in refused] == ["webhook rejected"]
