"""A process that meets Redis only through the secret masking's stamp check
(the admin, a command) notes an outage there: when Redis answers that check
again the outage is over, so the next outage is warned about too (one
warning per outage, not one per process lifetime)."""

import copy
import logging

import pytest
from django.conf import settings as django_settings

from integrations import redis_line, secrets_registry

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

REAL_CACHES = copy.deepcopy(django_settings.CACHES)
REFUSED = {"default": {**REAL_CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}


def _outage_levels(caplog) -> list[int]:
    return [r.levelno for r in caplog.records if r.name == redis_line.logger.name]


def test_a_second_outage_is_warned_after_the_stamp_check_recovered(
    settings, monkeypatch, caplog
):
    caplog.set_level(logging.INFO, logger=redis_line.logger.name)
    now = [redis_line.time.monotonic()]
    monkeypatch.setattr(redis_line.time, "monotonic", lambda: now[0])
    for caches in (REFUSED, REAL_CACHES, REFUSED):
        settings.CACHES = copy.deepcopy(caches)
        now[0] += redis_line.OUTAGE_PAUSE_SECONDS + 1  # past any pause
        secrets_registry.refresh(force_check=True)
    assert _outage_levels(caplog) == [logging.WARNING, logging.INFO, logging.WARNING]
