"""client_for rebuilds the config only when what it derives from changed."""

import pytest

from integrations.client import client_for
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


def test_a_settings_edit_made_in_place_is_seen():
    account = ProviderAccountFactory(settings={"read_timeout": 1})
    first = client_for(account)

    account.settings["read_timeout"] = 3
    rebuilt = client_for(account)

    assert rebuilt is not first
    assert rebuilt.config.read_timeout == 3


def test_a_django_settings_change_is_seen(settings):
    account = ProviderAccountFactory(settings={})
    settings.PROVIDER_READ_TIMEOUT = 11
    first = client_for(account)

    settings.PROVIDER_READ_TIMEOUT = 12
    rebuilt = client_for(account)

    assert first.config.read_timeout == 11
    assert rebuilt.config.read_timeout == 12


def test_a_change_outside_the_client_config_keeps_the_client():
    account = ProviderAccountFactory(settings={"read_timeout": 1})
    first = client_for(account)

    account.settings = {"read_timeout": 1, "breaker_open_seconds": 5}
    again = client_for(account)
    once_more = client_for(account)

    assert again is first is once_more
    assert once_more._config_source[1] == account.settings
