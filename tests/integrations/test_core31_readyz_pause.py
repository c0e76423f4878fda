"""/readyz is what tells the orchestrator whether this process can serve:
a Redis probe that timed out starts the outage pause for the process's
other callers, yet the next probe asks Redis again, and says ready once it
answers, within the pause (task core31)."""

import time

import pytest

from integrations import views_ops
from integrations.redis_line import RedisPaused, outage

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


def test_the_probe_after_a_timed_out_one_asks_redis_again(
    client, monkeypatch, settings
):
    settings.READYZ_TIMEOUT_SECONDS = 0.2
    answering = views_ops.check_cache

    def silent(backend):
        time.sleep(0.5)

    monkeypatch.setattr(views_ops, "check_cache", silent)
    first = client.get("/readyz")
    assert first.json()["checks"]["cache"] == "failed: CheckTimeout"
    with pytest.raises(RedisPaused):
        outage.check()  # the pause started

    monkeypatch.setattr(views_ops, "check_cache", answering)  # Redis is back
    again = client.get("/readyz")
    assert again.status_code == 200, again.json()
    outage.check()  # and its answer ended the pause for everyone
