"""Shipping's "Settle by hand" page on the shared staff-action base
(integrations.admin.staff_action), as it was: CSRF checked, a shipment not
unknown sent back to its page with a warning, the service's refusal on the
field it names, an id that names nothing a 404."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import WARNING, get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from shipping.models import Shipment
from tests.shipping.test_settle_by_hand import (  # noqa: F401 (the ``unknown`` fixture)
    unknown_shipment,
)
from tests.staff_clients import permitted_staff

pytestmark = pytest.mark.django_db


def _settle_url(pk: int) -> str:
    return reverse("admin:shipping_shipment_settle", args=[pk])


def _settler(django_user_model, **client_options) -> Client:
    return permitted_staff(
        django_user_model,
        "settler",
        "shipping",
        ["view_shipment", "settle_shipment"],
        **client_options,
    )


def test_the_settle_form_needs_a_csrf_token(django_user_model, unknown):
    guarded = _settler(django_user_model, enforce_csrf_checks=True)
    answer = guarded.post(
        _settle_url(unknown.pk), {"outcome": "not_bought", "note": "seen"}
    )
    assert answer.status_code == 403
    unknown.refresh_from_db()
    assert unknown.status == "unknown"


def test_a_shipment_not_unknown_goes_back_to_its_page_with_a_warning(
    django_user_model, unknown
):
    Shipment.objects.filter(pk=unknown.pk).update(status="failed")
    client = _settler(django_user_model)
    answer = client.post(
        _settle_url(unknown.pk), {"outcome": "not_bought", "note": "seen"}
    )
    assert answer.status_code == 302
    assert answer.url == reverse("admin:shipping_shipment_change", args=[unknown.pk])
    [message] = get_messages(answer.wsgi_request)
    assert message.level == WARNING
    assert str(message) == (
        f"{unknown.public_id} is failed: only an unknown shipment is settled by hand."
    )


def test_the_services_refusal_goes_on_the_field_it_names(django_user_model, unknown):
    client = _settler(django_user_model)
    answer = client.post(
        _settle_url(unknown.pk),
        {
            "outcome": "bought",
            "tracking_number": "1Z999",
            "carrier_label_id": "1Z999",
            "label_format": "pdf",
            "label_file": SimpleUploadedFile("label.pdf", b"<html>sign in</html>"),
            "note": "seen",
        },
    )
    assert answer.status_code == 200
    assert answer.context["form"].errors == {
        "label_file": ["The file is not a whole PDF file."]
    }
    unknown.refresh_from_db()
    assert unknown.status == "unknown"


def test_an_id_that_names_no_shipment_is_a_404(django_user_model):
    client = _settler(django_user_model)
    assert client.get(_settle_url(987654)).status_code == 404


def test_settling_needs_to_see_the_shipment_too(django_user_model, unknown):
    # settle_shipment alone (no view_shipment) neither shows nor settles it,
    # as payments' Settle by hand: the page shows the shipment's order.
    user = django_user_model.objects.create_user(
        "settle-only", password="pw", is_staff=True
    )
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="shipping", codename="settle_shipment"
        )
    )
    client = Client()
    client.force_login(user)
    assert client.get(_settle_url(unknown.pk)).status_code == 403
    answer = client.post(
        _settle_url(unknown.pk), {"outcome": "not_bought", "note": "seen"}
    )
    assert answer.status_code == 403
    unknown.refresh_from_db()
    assert unknown.status == "unknown"
