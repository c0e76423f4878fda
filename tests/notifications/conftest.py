import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from integrations import secrets_registry
from integrations.batch import services as batch_services
from integrations.breaker import breaker_mode_set
from integrations.models import ProviderAccount
from integrations.models.accounts import BreakerMode
from notifications import rendering
from notifications.providers.outcomes import unsupported_message
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services import sending
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.notifications.bulk_work import ODD


@pytest.fixture
def email_accounts(db: None) -> tuple[ProviderAccount, ProviderAccount]:
    """A primary and a secondary sandbox email account."""
    primary = ProviderAccountFactory(kind="email", slug="mail-primary", priority=1)
    secondary = ProviderAccountFactory(kind="email", slug="mail-secondary", priority=2)
    return primary, secondary


@pytest.fixture
def paused(settings: Any) -> ProviderAccount:
    """The one email account, under staff's maintenance."""
    settings.EMAIL_RETRY_AFTER_SECONDS = 60
    settings.BATCH_DEFER_MAX_SECONDS = 1800
    account = ProviderAccountFactory(kind="email", slug="mail-only", priority=1)
    breaker_mode_set(account=account, mode=BreakerMode.FORCED_OPEN, actor="ops")
    return account


@pytest.fixture
def sends_enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The messages handed to the send task, which does not run."""
    pks: list[int] = []
    monkeypatch.setattr(sending, "async_task", lambda name, pk, **kw: pks.append(pk))
    return pks


@pytest.fixture
def templates(tmp_path: Path, settings: Any) -> Iterator[Path]:
    """A copy of the shop's email templates, to edit (break and mend): the
    directory of the template folders, used from the test on."""
    root = tmp_path / "base"
    shutil.copytree(rendering.templates_dir(), root / "templates" / "emails")
    settings.BASE_DIR = root
    rendering._engine.cache_clear()
    yield root / "templates" / "emails"
    rendering._engine.cache_clear()


@pytest.fixture
def no_batch_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bulk send's job is worked by the test (``work_bulk_job``), not by
    queued or scheduled tasks."""
    monkeypatch.setattr(batch_services, "async_task", lambda *a, **kw: None)
    monkeypatch.setattr(batch_services, "schedule", lambda *a, **kw: None)


@pytest.fixture
def no_secrets_left_over() -> Iterator[None]:
    """No secret an earlier test left in this process: a short one (such as
    "secondary") would mask the account names a test reads."""
    secrets_registry.forget()
    yield
    secrets_registry.forget()


@pytest.fixture
def email_reader(db: None) -> APIClient:
    """The storefront's API client with an ``email:read`` key."""
    api = APIClient()
    key = ApiKeyFactory(scopes=["email:read"])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return api


@pytest.fixture
def all_wait(email_accounts, monkeypatch, no_batch_tasks) -> None:
    """A refuses every message for good; B is under staff's maintenance."""

    def deliver(self, message, **kwargs):
        raise unsupported_message("relay A lacks SMTPUTF8")

    monkeypatch.setattr(SandboxEmailAdapter, "deliver", deliver)
    breaker_mode_set(account=email_accounts[1], mode=BreakerMode.FORCED_OPEN)


@pytest.fixture
def odd_waits(email_accounts, monkeypatch) -> None:
    """A (the primary) refuses ODD's message for good, it cannot carry it;
    B, which could, is under staff's maintenance: ODD's message waits."""
    primary, secondary = email_accounts
    original = SandboxEmailAdapter.deliver

    def deliver(self, message, **kwargs):
        if self.account.slug == primary.slug and ODD in message.to:
            raise unsupported_message("relay A lacks SMTPUTF8")
        return original(self, message, **kwargs)

    monkeypatch.setattr(SandboxEmailAdapter, "deliver", deliver)
    breaker_mode_set(account=secondary, mode=BreakerMode.FORCED_OPEN, actor="ops")
