import pytest

from tests.integrations.events import subscribers

SUBS = "tests.integrations.events.subscribers"


@pytest.fixture(autouse=True)
def _reset_subscribers(settings):
    subscribers.calls.clear()
    subscribers.GATE.clear()
    subscribers.FAILURES_LEFT["count"] = 0
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {
        "payment.captured": [f"{SUBS}.audit", f"{SUBS}.mailer"],
    }
    settings.EVENT_MAX_ATTEMPTS = 3
    settings.EVENT_RETRY_BASE_SECONDS = 30
    settings.EVENT_RETRY_MAX_SECONDS = 3600
    settings.EVENT_SWEEP_AFTER_MINUTES = 2
