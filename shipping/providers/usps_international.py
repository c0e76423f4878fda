"""USPS international wire shapes: the International Labels API v3 label
request with its customs form and its answer, and the International Prices
API v3 base-rates search. The label request follows the "3.0 International
Label" example of USPS's own Postman collection (USPS/api-examples,
Example-Postman.postman_collection.json) and karrio's usps_international
label_request.json; the answer is multipart like a domestic label's
(``labelMetadata`` JSON carrying ``internationalTrackingNumber`` and
``postage``, then ``labelImage``)."""

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from django.utils import timezone

from shipping.providers.base import (
    ContentsType,
    Customs,
    LabelRequest,
    Rate,
    RateRequest,
)
from shipping.providers.carrier_common import country_name, decimal_text, name_parts
from shipping.providers.validation import InvalidShippingRequest
from shipping.units import WeightUnit, convert_weight

LABEL_PATH = "/international-labels/v3/international-label"
# USPS's default processing category for international parcels (the Postman
# example's and karrio's).
DEFAULT_CATEGORY = "NON_MACHINABLE"
# customsForm.customsContentType for our contents types.
CONTENT_TYPES = {
    ContentsType.MERCHANDISE: "MERCHANDISE",
    ContentsType.DOCUMENTS: "DOCUMENT",
    ContentsType.GIFT: "GIFT",
    ContentsType.SAMPLE: "COMMERCIAL_SAMPLE",
    ContentsType.RETURN: "RETURNED_GOODS",
}

Money = Callable[[int, str], str]  # the adapter's exact minor units -> "12.50"


def is_international_class(mail_class: str) -> bool:
    """USPS's international mail classes all name it (PRIORITY_MAIL_
    INTERNATIONAL, FIRST-CLASS_PACKAGE_INTERNATIONAL_SERVICE) except GXG."""
    return "INTERNATIONAL" in mail_class or mail_class == "GLOBAL_EXPRESS_GUARANTEED"


def label_body(
    request: LabelRequest,
    *,
    image_type: str,
    from_address: dict[str, Any],
    package: dict[str, Any],
    money: Money,
    mailing_date: date,
) -> dict[str, Any]:
    """The international label request; ``package`` carries the mail class,
    rate indicator and category already."""
    if request.customs is None:  # the base's checks refuse this first
        raise InvalidShippingRequest(
            "An international parcel needs customs items", param="customs.items"
        )
    return {
        "imageInfo": {"imageType": image_type, "labelType": "4X6LABEL"},
        "toAddress": foreign_address(request),
        "fromAddress": from_address,
        "packageDescription": {
            **package,
            "weightUOM": "lb",
            "dimensionsUOM": "in",
            "destinationEntryFacilityType": "NONE",
            "mailingDate": mailing_date.isoformat(),
            "customerReference": [{"referenceNumber": request.reference[:30]}],
        },
        "customsForm": customs_form(request.customs, money),
    }


def check_sendable(request: RateRequest | LabelRequest) -> None:
    """What the international label cannot take, refused for a quote as for
    its label (bought from the quote's request): a country USPS cannot name,
    customs values in another currency than US dollars."""
    destination_name(request.to_address.country_code)
    for index, item in enumerate(request.customs.items if request.customs else ()):
        _in_dollars(item.currency, index)


def destination_name(code: str) -> str:
    # USPS wants the country's name as well as its code.
    country = country_name(code)
    if not country:
        raise InvalidShippingRequest(
            f"USPS needs the destination country's name; {code!r} names no country",
            param="to_address.country_code",
            code="invalid_country",
        )
    return country


def _in_dollars(currency: str, index: int) -> None:
    if currency != "USD":
        raise InvalidShippingRequest(
            "USPS takes customs values in US dollars only",
            param=f"customs.items[{index}].currency",
            code="currency_not_supported",
        )


def foreign_address(request: LabelRequest) -> dict[str, Any]:
    address = request.to_address
    country = destination_name(address.country_code)
    lines = [line for line in address.street_lines if line] + [""]
    wire = {
        **addressee(address.name, address.company),
        "phone": address.phone,
        "streetAddress": lines[0],
        "secondaryAddress": lines[1],
        "city": address.city,
        "postalCode": address.postal_code,
        "province": address.state_code,
        "country": country,
        "countryISOAlpha2Code": address.country_code,
    }
    return {key: value for key, value in wire.items() if value}


def addressee(name: str, company: str) -> dict[str, str]:
    """A label's Addressee: "The First and Last Name or Firm Name are always
    required" (domestic-labels.yaml, international-labels.yaml), so a
    one-word name without a company goes as the firm, no last name made up;
    beside a company it goes as the first name. None sent empty."""
    first, last = name_parts(name)
    if not last and not company:
        return {"firm": first} if first else {}
    wire = {"firstName": first, "lastName": last, "firm": company}
    return {key: value for key, value in wire.items() if value}


def customs_form(customs: Customs, money: Money) -> dict[str, Any]:
    """The customs declaration: values in US dollars (USPS takes no other
    currency), weights in pounds, per item and per line."""
    contents = []
    for index, item in enumerate(customs.items):
        _in_dollars(item.currency, index)
        weight = convert_weight(item.weight, item.weight_unit, WeightUnit.LB)
        line = {
            "itemDescription": item.description,
            "itemQuantity": item.quantity,
            "itemValue": Decimal(money(item.value, "USD")),
            "itemTotalValue": Decimal(money(item.value * item.quantity, "USD")),
            "weightUOM": "lb",
            "itemWeight": Decimal(decimal_text(weight, 4)),
            "itemTotalWeight": Decimal(decimal_text(weight * item.quantity, 4)),
            "HSTariffNumber": item.hs_code,
            "countryofOrigin": item.origin_country,
        }
        contents.append({key: value for key, value in line.items() if value != ""})
    return {
        "customsContentType": CONTENT_TYPES[customs.contents_type],
        "contents": contents,
    }


def tracking_number(metadata: dict[str, Any]) -> str:
    """``internationalTrackingNumber`` (the Labels API's domestic
    ``trackingNumber`` as a fallback)."""
    found = metadata.get("internationalTrackingNumber") or metadata.get(
        "trackingNumber"
    )
    return str(found or "")


# --- Rates (International Prices API v3, base rates) ------------------------------

RATES_PATH = "/international-prices/v3/base-rates/search"
# The parcel classes priced, one call each (the API takes one mail class).
MAIL_CLASSES = (
    "FIRST-CLASS_PACKAGE_INTERNATIONAL_SERVICE",
    "PRIORITY_MAIL_INTERNATIONAL",
    "PRIORITY_MAIL_EXPRESS_INTERNATIONAL",
)
RATE_INDICATOR = "SP"  # single piece


def rate_body(
    request: RateRequest,
    *,
    mail_class: str,
    package: dict[str, Any],
    price_type: str,
    account_number: str,
) -> dict[str, Any]:
    """The "International Prices - Base Rates" request of USPS/api-examples'
    README: one mail class, the parcel in pounds and inches."""
    body = {
        "originZIPCode": request.from_address.postal_code[:5],
        "foreignPostalCode": request.to_address.postal_code,
        "destinationCountryCode": request.to_address.country_code,
        "destinationEntryFacilityType": "NONE",
        **package,
        "mailClass": mail_class,
        "processingCategory": DEFAULT_CATEGORY,
        "rateIndicator": RATE_INDICATOR,
        "priceType": price_type,
        "accountType": "EPS",
        "accountNumber": account_number,
        "mailingDate": (request.ship_date or timezone.localdate()).isoformat(),
    }
    return {key: value for key, value in body.items() if value != ""}


def read_rate(
    data: Mapping[str, Any],
    mail_class: str,
    amount_of: Callable[[object, str], int | None],
) -> Rate | None:
    """``totalBasePrice`` (the first rate's ``price`` if absent), in USD."""
    rates = [r for r in data.get("rates") or [] if isinstance(r, Mapping)]
    price = data.get("totalBasePrice")
    if price is None and rates:
        price = rates[0].get("price")
    amount = amount_of(price, "USD")  # UnusableAmount when not a price
    if amount is None:
        return None
    return Rate(
        carrier="USPS",
        service_code=mail_class,
        service_name=mail_class.replace("_", " ").replace("-", " ").title(),
        amount=amount,
        currency="USD",
        carrier_rate_id="|".join((mail_class, RATE_INDICATOR, DEFAULT_CATEGORY)),
    )
