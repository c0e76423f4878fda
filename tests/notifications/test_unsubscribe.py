"""The unsubscribe page: GET changes nothing (link scanners), POST and the
RFC 8058 one-click POST unsubscribe, a forged token is refused."""

import pytest
from django.test import Client

from notifications.models import Suppression
from notifications.unsubscribe import unsubscribe_token, unsubscribe_url

pytestmark = pytest.mark.django_db


def _path(address: str) -> str:
    return "/email/unsubscribe/" + unsubscribe_token(address) + "/"


def test_get_only_asks() -> None:
    response = Client().get(_path("ada@example.com"))
    assert response.status_code == 200
    assert b'<form method="post">' in response.content
    assert not Suppression.objects.exists()


def test_one_click_post_unsubscribes_without_a_cookie() -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        _path("Ada@Example.com"), data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    suppression = Suppression.objects.get()
    assert suppression.address == "ada@example.com"
    assert suppression.reason == "unsubscribe"
    # Twice is harmless.
    client.post(_path("ada@example.com"))
    assert Suppression.objects.count() == 1


def test_forged_token_changes_nothing() -> None:
    token = unsubscribe_token("ada@example.com")
    response = Client().post("/email/unsubscribe/" + token[:-2] + "xx/")
    assert response.status_code == 404
    assert not Suppression.objects.exists()


def test_url_uses_the_public_base(settings) -> None:
    settings.EMAIL_PUBLIC_BASE_URL = "https://shop.example.com/"
    assert unsubscribe_url("a@b.co").startswith("https://shop.example.com/email/")
