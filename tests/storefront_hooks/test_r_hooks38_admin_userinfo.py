"""Review of hooks38: the admin shows a refused URL again without its
password, also when the password holds a "/", "?" or "#" (a base64 token
often has a "/"; typed raw, it ends the URL's authority early)."""

import pytest
from django.contrib.auth import get_user_model

from storefront_hooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db
ADD = "/admin/storefront_hooks/webhookendpoint/add/"


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("root", "r@example.com", "pw")
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("https://user:Hu/nter2+x==@shop.example/hooks", "Hu/nter2+x=="),
        ("https://user:hun#ter2@shop.example/hooks", "hun#ter2"),
        ("https://user:hun?ter2@shop.example/hooks", "hun?ter2"),
        ("user:Hu/nter2@shop.example/hooks", "Hu/nter2"),
    ],
)
def test_a_password_with_a_slash_is_not_shown_again(staff, url, password) -> None:
    form = {"url": url, "description": "", "event_types": "payment.*"}
    answer = staff.post(ADD, {**form, "mode": "test"})
    assert answer.status_code == 200
    assert answer.context["adminform"].form.errors["url"]
    assert not WebhookEndpoint.objects.exists()
    body = answer.content.decode()
    assert password not in body
    assert password.replace("/", "&#x2F;") not in body
    assert "***@shop.example/hooks" in body


@pytest.mark.parametrize(
    "url",
    [
        "http://shop.example/hooks?notify=ops@shop.example",
        "http://shop.example/@me/hooks",
    ],
)
def test_a_refused_url_without_userinfo_is_shown_as_typed(staff, url) -> None:
    # Refused for being http:// in live mode; nothing in it is hidden.
    form = {"url": url, "description": "", "event_types": "payment.*"}
    answer = staff.post(ADD, {**form, "mode": "live"})
    assert answer.context["adminform"].form.errors["url"]
    assert answer.context["adminform"].form["url"].value() == url
