"""CACHES changed twice, nested: each replaced Redis backend closes its
connections as it goes, the restored settings build a fresh one that works
(task revtests26, against tests26's setting_changed receiver)."""

import copy

import pytest
from django.core.cache import caches
from django.test import override_settings

from integrations.redis_line import redis_handle

pytestmark = pytest.mark.redis


def _used_line():
    caches["default"].set("revtests26", 1)
    handle = redis_handle()
    assert handle is not None
    handle.line.command("PING")
    return handle.line.connection


def test_nested_caches_changes_close_each_replaced_backend(settings):
    outer = _used_line()
    other = copy.deepcopy(settings.CACHES)
    other["default"]["KEY_PREFIX"] = "revtests26-inner"
    with override_settings(CACHES=other):
        assert not outer.is_connected
        inner = _used_line()
        locmem = {
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
        }
        with override_settings(CACHES=locmem):
            assert not inner.is_connected
            assert redis_handle() is None
        again = _used_line()
        assert again is not inner
    assert not again.is_connected
    assert caches["default"].get("revtests26") == 1
