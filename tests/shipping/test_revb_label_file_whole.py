"""Whole label files as carriers and printers' tools really write them are
applied from a label webhook, not taken for garbled (a false "garbled" would
retry the webhook until it gives up and never store a real label): a PDF
padded after its %%EOF, a linearized PDF, one with an incremental update; a
ZPL file that downloads its logo (a ~DG command) or carries a byte-order mark
before ^XA, or ends with a newline; a PNG with bytes after its IEND chunk.
A file cut short in the same shapes is still retried."""

import json
import struct
import zlib

import pytest

from integrations.models import WebhookEvent
from shipping.models import ShipmentStatus
from tests.shipping.providers.test_shippo import (
    FIXTURES,
    LABEL_URL,
    PDF,
    _queued,
    account,  # noqa: F401 (fixture)
    mocked,  # noqa: F401 (fixture)
)
from tests.shipping.test_ship4_label_file import _retried
from tests.shipping.test_ship_label_webhook_strings import _post

pytestmark = pytest.mark.django_db


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png() -> bytes:
    """A real 2x2 greyscale PNG."""
    header = struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00" * 2)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )


PNG = _png()


def _linearized() -> bytes:
    """A linearized PDF: its first-page section ends with its own %%EOF, and
    its linearization dictionary states the file's length (/L)."""
    template = (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
        b"4 0 obj<</Linearized 1/L LENGTH____/H[200 40]/O 6/E 400/N 1/T 500>>endobj\n"
        b"xref\n4 1\n0000000015 00000 n \n"
        b"trailer<</Size 7/Root 5 0 R/Prev 450>>\nstartxref\n0\n%%EOF\n"
        + PDF.split(b"\n", 1)[1]
    )
    return template.replace(b"LENGTH____", b"%010d" % len(template))


LINEARIZED = _linearized()
# An incremental update appended after the original %%EOF.
UPDATED = (
    PDF
    + b"3 0 obj<</Title(Label)>>endobj\n"
    + b"xref\n3 1\n0000000125 00000 n \n"
    + b"trailer<</Size 4/Root 1 0 R/Info 3 0 R/Prev 0>>\nstartxref\n125\n%%EOF\r\n"
)
# A ZPL label whose logo is downloaded (immediate ~DG) before the format.
LOGO = b"~DGR:LOGO.GRF,00080,010," + b"FF00" * 40 + b"\r\n"
ZPL = b"^XA^FO40,40^XGR:LOGO.GRF,1,1^FS^FO40,200^FDShip^FS^XZ"

WHOLE = {
    "PDF_4x6": {
        "pdf %%EOF CRLF and spaces": PDF.rstrip() + b"\r\n  \n",
        "pdf padded after %%EOF": PDF.rstrip() + b"\r\n" + b" " * 2048,
        "pdf padded with NULs": PDF + b"\x00" * 4096,
        "linearized pdf": LINEARIZED,
        "pdf with an incremental update": UPDATED,
    },
    "ZPLII": {
        "zpl trailing newline": ZPL + b"\r\n",
        "zpl logo downloaded first": LOGO * 40 + ZPL + b"\n",
        "zpl with a byte-order mark": b"\xef\xbb\xbf" + ZPL,
    },
    "PNG": {
        "png": PNG,
        "png with bytes after IEND": PNG + b"\x00" * 16,
        "png with a block after IEND": PNG + b"\x00" * 4096,
    },
}
CUT = {
    "PDF_4x6": {
        "linearized pdf cut short": LINEARIZED[: LINEARIZED.index(b"%%EOF") + 80]
    },
    "ZPLII": {"zpl logo only": LOGO * 40, "zpl cut short": ZPL[:-5]},
    "PNG": {"png cut in IDAT": PNG[:40], "png without IEND": PNG[:-12]},
}


def _cases(table: dict) -> list:
    return [
        pytest.param(file_type, body, id=name)
        for file_type, bodies in table.items()
        for name, body in bodies.items()
    ]


def _sent(file_type: str, body: bytes, mocked, account, callbacks):  # noqa: F811
    mocked.get(LABEL_URL, body=body)
    shipment = _queued(account)
    payload = json.loads(
        (FIXTURES / "shippo" / "webhook_transaction_updated.json").read_text()
    )
    payload["data"]["label_file_type"] = file_type
    assert _post(payload, callbacks) == 200
    return shipment


@pytest.mark.parametrize("file_type, body", _cases(WHOLE))
def test_a_whole_label_file_is_applied(
    account,  # noqa: F811
    mocked,  # noqa: F811
    django_capture_on_commit_callbacks,
    file_type,
    body,
):
    shipment = _sent(
        file_type, body, mocked, account, django_capture_on_commit_callbacks
    )

    event = WebhookEvent.objects.get()
    assert event.status == "processed", event.last_error
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED
    assert bytes(shipment.label_data) == body


@pytest.mark.parametrize("file_type, body", _cases(CUT))
def test_a_label_file_cut_short_is_retried(
    account,  # noqa: F811
    mocked,  # noqa: F811
    django_capture_on_commit_callbacks,
    file_type,
    body,
):
    shipment = _sent(
        file_type, body, mocked, account, django_capture_on_commit_callbacks
    )

    _retried(shipment)
