"""While Redis is down the sweep reads each endpoint's pause from the
account row. That is one outage: the outage record's one WARNING, not a
WARNING per sweep (one a minute, each process) or per admin page."""

import logging

import pytest
from django.urls import reverse

from integrations import redis_line
from integrations.breaker import breaker_mode_set
from integrations.breaker.store import forget_recent
from integrations.models.accounts import BreakerMode
from storefront_hooks import services
from storefront_hooks.services import sweep

pytestmark = pytest.mark.django_db

LIST = "admin:storefront_hooks_webhookendpoint_changelist"


def _redis_down(settings, monkeypatch) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    forget_recent()
    monkeypatch.setattr(sweep, "enqueue", lambda *args: None)


def test_sweeps_and_pages_in_one_outage_warn_once(
    settings, monkeypatch, make_endpoint, admin_client, caplog
):
    paused, _ = make_endpoint()
    make_endpoint()
    breaker_mode_set(account=paused.account, mode=BreakerMode.FORCED_OPEN)
    _redis_down(settings, monkeypatch)
    caplog.set_level(logging.INFO)
    caplog.clear()  # the mode set before the outage is logged

    for _ in range(3):
        forget_recent()
        services.deliveries_sweep()
    assert admin_client.get(reverse(LIST)).status_code == 200

    warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warned] == [redis_line.logger.name], [
        r.getMessage() for r in warned
    ]
    paused.refresh_from_db()
    assert paused.paused_since is not None  # still paused by the row's mode
