"""The sandbox carrier's label files: a real one-page PDF (any viewer opens
it, a printer prints it) and a ZPL II label, built without a PDF library
since a label is a few lines of text."""

from collections.abc import Sequence

# A 4x6 inch label, in PDF points.
_WIDTH, _HEIGHT = 288, 432


def _pdf_text(text: str) -> str:
    # PDF string literals escape these three; anything outside Latin-1 would
    # need a font encoding, so it is replaced.
    safe = text.encode("latin-1", "replace").decode("latin-1")
    return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def label_pdf(lines: Sequence[str]) -> bytes:
    """A one-page PDF showing ``lines``; the first in a larger type."""
    commands = ["BT", "/F1 16 Tf", f"18 {_HEIGHT - 36} Td"]
    for index, line in enumerate(lines):
        if index == 1:
            commands.append("/F1 10 Tf")
        commands.append(f"({_pdf_text(line)}) Tj")
        commands.append("0 -20 Td" if index == 0 else "0 -14 Td")
    commands.append("ET")
    stream = "\n".join(commands).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_WIDTH} {_HEIGHT}] "
            "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
        ).encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def label_zpl(tracking_number: str, lines: Sequence[str]) -> bytes:
    """A ZPL II label: the lines as text and the number as a Code 128."""
    fields = [
        f"^FO40,{40 + 40 * index}^A0N,30,30^FD{_zpl_text(line)}^FS"
        for index, line in enumerate(lines)
    ]
    barcode = f"^FO40,{80 + 40 * len(lines)}^BCN,120,Y,N,N^FD{tracking_number}^FS"
    return ("^XA\n" + "\n".join(fields) + "\n" + barcode + "\n^XZ\n").encode()


def _zpl_text(text: str) -> str:
    # ^ and ~ start ZPL commands; a field must not contain them.
    return text.replace("^", " ").replace("~", " ")
