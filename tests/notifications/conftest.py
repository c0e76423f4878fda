import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integrations.batch import services as batch_services
from integrations.models import ProviderAccount
from notifications import rendering
from tests.factories import ProviderAccountFactory


@pytest.fixture
def email_accounts(db: None) -> tuple[ProviderAccount, ProviderAccount]:
    """A primary and a secondary sandbox email account."""
    primary = ProviderAccountFactory(kind="email", slug="mail-primary", priority=1)
    secondary = ProviderAccountFactory(kind="email", slug="mail-secondary", priority=2)
    return primary, secondary


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
