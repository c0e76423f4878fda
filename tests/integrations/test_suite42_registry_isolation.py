"""The secret registry is per process, and an xdist worker runs many tests:
a credential one test registers must not be masked in a later test of the
same worker (a 'secondary' token once masked another test's reasons)."""

import pytest

from integrations.secrets_registry import MASK, known_secrets, redact_secrets, remember
from tests.factories import ProviderAccountFactory

SAVED = "suite42-saved-credential"
REMEMBERED = "suite42-remembered-token"


@pytest.mark.django_db
def test_1_a_test_registers_credentials():
    ProviderAccountFactory(credentials={"server_token": SAVED})
    remember(REMEMBERED)

    assert redact_secrets(f"{SAVED} {REMEMBERED}") == f"{MASK} {MASK}"


def test_2_a_later_test_does_not_see_them_masked():
    # Runs after the first (file order): its rows are gone, so are its secrets.
    assert redact_secrets(f"{SAVED} {REMEMBERED}") == f"{SAVED} {REMEMBERED}"
    assert SAVED not in known_secrets()
    assert REMEMBERED not in known_secrets()
