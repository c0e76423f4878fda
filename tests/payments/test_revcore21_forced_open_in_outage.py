"""Staff forced an account's breaker open (send it nothing): while Redis is
unreachable and the payment path fails open, the account's own row still
says so, so it is not charged; the payment goes to the next account."""

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings

from integrations.breaker.store import forget_recent
from integrations.models.accounts import BreakerMode
from payments import services
from payments.models import Payment
from payments.providers.sandbox import SandboxPaymentsAdapter
from tests.integrations.redis_black_holes import Silent, watched

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

REAL_CACHES = copy.deepcopy(django_settings.CACHES)


@pytest.fixture
def hole(settings) -> Iterator[Silent]:
    made = Silent()
    settings.CACHES = {"default": {**REAL_CACHES["default"], "LOCATION": made.url}}
    forget_recent()
    try:
        yield made
    finally:
        made.close()


def test_a_forced_open_account_is_not_charged_in_an_outage(
    primary, secondary, hole, monkeypatch
):
    primary.breaker_mode = BreakerMode.FORCED_OPEN
    primary.save()
    charged: list[str] = []
    create = SandboxPaymentsAdapter._create

    def counted(adapter: Any, request: Any) -> Any:
        charged.append(adapter.account.slug)
        return create(adapter, request)

    monkeypatch.setattr(SandboxPaymentsAdapter, "_create", counted)
    with watched(hole):
        payment = services.payment_create(
            order_id="order-rc21-forced",
            amount=1050,
            currency="EUR",
            source_token="tok_success",
            capture=True,
            idempotency_key="key-rc21-forced",
        )
    assert charged == ["sbx-secondary"]
    assert Payment.objects.get().account_id == secondary.pk == payment.account_id
