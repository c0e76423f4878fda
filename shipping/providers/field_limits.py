"""The longest text each carrier takes in the fields we send it, from its
published spec; ``shipping.providers.validation`` checks them before any
call (issue 17, 9: provider limits are checked at our API, not found out at
the provider, which refuses the label or cuts the text on it and misroutes
the parcel).

A field too long for the carrier is ``InvalidShippingRequest`` with code
``field_too_long``, ``param`` naming it (``to_address.street_lines[0]``) and
the carrier's limit in the message, never the text itself. Only what an
adapter sends from the storefront's request is limited: our own reference
(the shipment's public id) is not the storefront's to fix.

Where a spec publishes no limit there is none: the specs kept for FedEx,
DHL Express and USPS (../shared/provider-specs/*/karrio-samples) are
example bodies without lengths, and Shippo's OpenAPI (shippo/public-api.yaml)
bounds none of the address or customs fields we send.
"""

from collections.abc import Callable
from dataclasses import dataclass

from shipping.providers.shipment_types import Address
from shipping.providers.ups_address import ups_address


@dataclass(frozen=True)
class FieldLimits:
    """Characters a carrier takes per field; None: no published limit."""

    name: int | None = None
    company: int | None = None
    street_line: int | None = None  # each line
    street_lines: int | None = None  # how many lines (blank ones are not sent)
    city: int | None = None
    state_code: int | None = None
    postal_code: int | None = None
    phone: int | None = None
    email: int | None = None
    customs_description: int | None = None  # each item's
    hs_code: int | None = None
    sku: int | None = None
    exporter_reference: int | None = None
    # The address as the adapter sends it (a ZIP+4's hyphen dropped, ...):
    # the limits are checked on that, not on the buyer's text.
    as_sent: Callable[[Address], Address] | None = None


NO_FIELD_LIMITS = FieldLimits()

# UPS: provider-specs/ups/Shipping.yaml (ShipmentRequest) and Rating.yaml
# (RateRequest); a request goes to both (quote, then label): the smaller wins.
UPS_FIELDS = FieldLimits(
    name=35,  # Shipper/ShipTo/ShipFrom AttentionName and Name, both files
    company=35,  # Name (the company when given), both files
    street_line=35,  # Address.AddressLine, both files
    street_lines=3,  # AddressLine: "Up to three occurrences" (Shipping.yaml)
    city=30,  # Address.City, both files
    state_code=2,  # Address.StateProvinceCode: Rating.yaml 2, Shipping.yaml 5
    postal_code=9,  # Address.PostalCode, both files
    phone=15,  # Phone.Number (Shipping.yaml; rating sends none)
    customs_description=35,  # InternationalForms.Product.Description
    hs_code=15,  # InternationalForms.Product.CommodityCode
    as_sent=ups_address,  # postcode, state and phone as UPS takes them
)
