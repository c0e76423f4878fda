"""The sandbox ERP as one that owes its failed pages (``owes_failed_pages``):
no listing paged by offset or page number may (h/invy), so the tests of the
owed-pages workflow (``sync_owed``) ask it of the sandbox adapter."""

import pytest

from inventory.providers.sandbox import SandboxInventoryAdapter


@pytest.fixture
def owing_sandbox(monkeypatch):
    monkeypatch.setattr(SandboxInventoryAdapter, "owes_failed_pages", True)
