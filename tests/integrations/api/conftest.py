from collections.abc import Callable, Iterator

import pytest
from rest_framework.test import APIClient

from integrations.models import ApiKey
from tests.factories import ApiKeyFactory
from tests.integrations.api import views

TEST_URLS = "tests.integrations.api.urls"


@pytest.fixture(autouse=True)
def _reset_hooks() -> Iterator[None]:
    views.hooks.clear()
    yield
    views.hooks.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def make_key(db: None) -> Callable[..., ApiKey]:
    def make(*scopes: str) -> ApiKey:
        return ApiKeyFactory(scopes=list(scopes) or ["inventory:write"])

    return make


@pytest.fixture
def key_client(make_key: Callable[..., ApiKey]) -> Callable[..., APIClient]:
    """An APIClient sending a new key with the given scopes (``.api_key``)."""

    def make(*scopes: str) -> APIClient:
        api_key = make_key(*scopes)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.raw_key}")
        client.api_key = api_key
        return client

    return make
