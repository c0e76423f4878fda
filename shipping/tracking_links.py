"""Public tracking pages of the carriers, for the links in shipping notices.

A carrier without a public page (the sandbox) gets no link; the email then
shows the tracking number alone.
"""

from urllib.parse import quote

# Keyed by the carrier name lower-cased without spaces, underscores or
# hyphens: our adapters say "FedEx", "DHL Express"; Shippo its provider name.
TRACKING_PAGES: dict[str, str] = {
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "ups": "https://www.ups.com/track?tracknum={number}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "dhlexpress": "https://www.dhl.com/en/express/tracking.html?AWB={number}",
    "dhl": "https://www.dhl.com/en/express/tracking.html?AWB={number}",
}


def tracking_url(carrier: str, tracking_number: str) -> str:
    """The carrier's public tracking page for ``tracking_number``, or ""."""
    key = "".join(ch for ch in carrier.lower() if ch.isalnum())
    page = TRACKING_PAGES.get(key)
    if not page or not tracking_number:
        return ""
    return page.format(number=quote(tracking_number, safe=""))


def recipient_email(to_address: object) -> str:
    """The recipient's email from a stored address, or ""."""
    if isinstance(to_address, dict):
        return str(to_address.get("email") or "")
    return ""
