import pytest

from integrations.models import ProviderAccount
from tests.factories import ProviderAccountFactory


@pytest.fixture
def email_accounts(db: None) -> tuple[ProviderAccount, ProviderAccount]:
    """A primary and a secondary sandbox email account."""
    primary = ProviderAccountFactory(kind="email", slug="mail-primary", priority=1)
    secondary = ProviderAccountFactory(kind="email", slug="mail-secondary", priority=2)
    return primary, secondary
