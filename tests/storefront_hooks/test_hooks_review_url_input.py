"""Outside review: the API refused as a URL only what the admin's URL field
refuses too. A URL the admin would not save (a space or line break in it, a
host name no resolver takes) was stored through the API and failed every
delivery for days; it is a 400 ``invalid_endpoint`` on ``url`` now."""

import pytest

from storefront_hooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db
BASE = "/api/v1/webhook-endpoints/"

BAD_URLS = [
    "https://shop.example/hooks\nX-Injected: 1",
    "https://shop.example/ho oks",
    "https://sh op.example/hooks",
    "https://shop..example/hooks",
    "https://-shop.example/hooks",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_malformed_url_is_a_400_on_create(api, url) -> None:
    answer = api.post(BASE, {"url": url, "event_types": ["payment.*"]}, format="json")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_endpoint", "url")
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_malformed_url_is_a_400_on_patch(api, url) -> None:
    good = "https://shop.example/hooks"
    created = api.post(BASE, {"url": good, "event_types": ["payment.*"]}, format="json")
    assert created.status_code == 201
    answer = api.patch(f"{BASE}{created.json()['id']}/", {"url": url}, format="json")
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "url"
    assert WebhookEndpoint.objects.get().url == good
