"""Settle by hand: the label file staff upload is held to the check a
carrier's file is (a whole file of its declared format) and to a size bound;
either failing is a form error on the settle page, the shipment left
``unknown``, never a 500 nor a broken label stored."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from shipping.admin.settle import MAX_LABEL_BYTES
from shipping.models import ShipmentStatus
from tests.shipping.test_settle_by_hand import (  # noqa: F401 (fixtures)
    settle_url,
    settler_client,
    unknown_shipment,
)

pytestmark = pytest.mark.django_db

WHOLE_PDF = b"%PDF-1.4\nstaff's copy\n%%EOF\n"
WHOLE_ZPL = b"^XA^FO50,50^FDlabel^FS^XZ\n"


def _post(client, shipment, data: bytes, label_format: str = "pdf"):
    return client.post(
        settle_url(shipment),
        {
            "outcome": "bought",
            "tracking_number": "1Z999",
            "label_format": label_format,
            "label_file": SimpleUploadedFile("label.bin", data),
            "note": "Downloaded from the carrier's site.",
        },
    )


def _refused(answer, shipment) -> str:
    assert answer.status_code == 200
    errors = answer.context["form"].errors
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.UNKNOWN
    assert bytes(shipment.label_data) == b""
    return " ".join(errors.get("label_file", []))


@pytest.mark.parametrize(
    "data, label_format",
    [
        (b"%PDF-1.4\nstaff's copy, cut short", "pdf"),
        (b"<html>Sign in to your carrier account</html>", "pdf"),
        (WHOLE_ZPL, "pdf"),
        (WHOLE_PDF, "zpl"),
        (b"^XA^FO50,50^FDlabel cut", "zpl"),
        (b"\x89PNG\r\n\x1a\n no end chunk", "png"),
    ],
    ids=["cut pdf", "html page", "zpl as pdf", "pdf as zpl", "cut zpl", "cut png"],
)
def test_a_label_file_that_is_not_whole_is_a_form_error(
    settler_client,  # noqa: F811
    unknown,
    data,
    label_format,
):
    answer = _post(settler_client, unknown, data, label_format)

    assert "not a whole" in _refused(answer, unknown)


def test_a_label_file_too_large_is_a_form_error(
    settler_client,  # noqa: F811
    unknown,
):
    big = b"%PDF-1.4\n" + b"0" * MAX_LABEL_BYTES + b"\n%%EOF\n"

    answer = _post(settler_client, unknown, big)

    assert "too large" in _refused(answer, unknown)
    assert MAX_LABEL_BYTES <= 10 * 1024 * 1024


@pytest.mark.parametrize(
    "data, label_format", [(WHOLE_PDF, "pdf"), (WHOLE_ZPL, "zpl")], ids=["pdf", "zpl"]
)
def test_a_whole_label_file_settles_the_label(
    settler_client,  # noqa: F811
    unknown,
    data,
    label_format,
):
    answer = _post(settler_client, unknown, data, label_format)

    assert answer.status_code == 302
    unknown.refresh_from_db()
    assert unknown.status == ShipmentStatus.PURCHASED
    assert bytes(unknown.label_data) == data
    assert unknown.label_format == label_format


def test_settling_without_a_file_still_works(
    settler_client,  # noqa: F811
    unknown,
):
    answer = settler_client.post(
        settle_url(unknown),
        {
            "outcome": "bought",
            "tracking_number": "1Z999",
            "label_format": "pdf",
            "note": "Seen on the carrier's site.",
        },
    )

    assert answer.status_code == 302
    unknown.refresh_from_db()
    assert unknown.status == ShipmentStatus.PURCHASED


def test_the_service_refuses_a_file_that_is_not_whole(unknown):
    from shipping.services import ShippingError
    from shipping.services.settle import shipment_settle_by_hand

    with pytest.raises(ShippingError) as refused:
        shipment_settle_by_hand(
            shipment=unknown,
            outcome="bought",
            note="Downloaded from the carrier's site.",
            actor="staff@example.com",
            tracking_number="1Z999",
            label_data=b"%PDF-1.4\ncut short",
            label_format="pdf",
        )

    assert refused.value.param == "label_file"
    assert "not a whole PDF" in refused.value.message
    unknown.refresh_from_db()
    assert unknown.status == ShipmentStatus.UNKNOWN
