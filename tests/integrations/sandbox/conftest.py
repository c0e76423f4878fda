"""Sandbox tests count the on-commit callbacks the sandbox registers; the
outbox's subscribers (storefront webhooks) are not what they test."""

import pytest


@pytest.fixture(autouse=True)
def _no_event_subscribers(settings) -> None:
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {}
