"""A half-open breaker's probe that ends in ``unsupported_message`` (the
relay answered, but offers no SMTPUTF8 for this message's UTF-8 address).
By the breaker's rules (``integrations.breaker.classify``) every
``ConfigurationError`` is ignored: it neither closes nor reopens the
breaker, and the probe it held is freed at once. So the account is not
held open: the very next message probes straight away and closes it.
Closing on the unsupported probe itself would need ``classify`` to tell an
answered ``ConfigurationError`` from one that never reached the provider
(integrations/breaker, outside notifications)."""

import pytest
from django.core.cache import cache

from integrations.breaker import BreakerState, breaker_for
from integrations.errors import ConfigurationError, NotProcessed
from integrations.models import ProviderAccount
from integrations.registry import get_adapter
from tests.integrations.breaker.conftest import FakeClock
from tests.notifications.contract.harness import sample_email
from tests.notifications.scripted_relay import CUSTOMER, relay_account, scripted_relay

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(settings, monkeypatch) -> FakeClock:
    # The breaker's shared clock, moved by hand (as tests/integrations/breaker).
    clock = FakeClock()
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    cache.clear()
    monkeypatch.setattr("integrations.cache_clock.shared_now", clock)
    return clock


def _open(smtp: ProviderAccount, relay, clock: FakeClock) -> None:
    relay.replies["MAIL"] = "421 4.3.2 Service not available"
    with pytest.raises(NotProcessed):
        get_adapter(smtp).send(sample_email(to=CUSTOMER))
    assert breaker_for(smtp).snapshot().state == BreakerState.OPEN
    relay.replies.clear()
    clock.advance(31)
    assert breaker_for(smtp).snapshot().state == BreakerState.HALF_OPEN


def test_an_unsupported_probe_leaves_the_next_message_to_close_it(clock) -> None:
    with scripted_relay(smtputf8=False) as relay:
        smtp = relay_account(relay, slug="relay-mail21-probe")
        limits = {"breaker_consecutive_failures": 1, "breaker_open_seconds": 30}
        smtp.settings = {**smtp.settings, **limits}
        smtp.save()
        _open(smtp, relay, clock)
        with pytest.raises(ConfigurationError) as info:
            get_adapter(smtp).send(sample_email(to="álvaro@example.com"))
        assert info.value.code == "unsupported_message"
        # Ignored by the breaker's rules: not closed, not reopened...
        assert breaker_for(smtp).snapshot().state == BreakerState.HALF_OPEN
        # ...and its probe freed: the next message goes out at once.
        result = get_adapter(smtp).send(sample_email(to=CUSTOMER))
    assert result.raw_status == "250"
    snapshot = breaker_for(smtp).snapshot()
    assert (snapshot.state, snapshot.last_reason) == (
        BreakerState.CLOSED,
        "probe succeeded",
    )
