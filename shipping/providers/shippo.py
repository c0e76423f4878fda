"""Shippo (API 2018-02-08) as JSON over HTTP on the shared client: rates from
every carrier behind the account (a shipment), labels bought as transactions
(QUEUED ones come back pending and are polled by reconciliation, never by a
sleeping request, and settled at once by a ``transaction_updated`` webhook),
refunds as voids, tracks, address validation, and the ``track_updated`` and
``transaction_updated`` webhooks authenticated by a secret token in the URL. Wire
shapes follow Shippo's OpenAPI file (provider-specs/shippo/public-api.yaml)."""

import dataclasses
import functools
import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import requests

from integrations.client import client_for
from integrations.errors import (
    ConfigurationError,
    Outcome,
    ProviderError,
    Rejected,
    Unknown,
)
from integrations.providers.base import ConfigField, HealthResult, SignedRequest
from integrations.providers.http import HttpAdapter, path_segment
from integrations.webhooks.messages import WebhookMessage, iso_time, json_object
from integrations.webhooks.signing import require_match
from integrations.webhooks.verification import WebhookVerificationError
from shipping.providers import shippo_parcels, shippo_pickups, shippo_refunds
from shipping.providers.base import (
    Address,
    AddressValidation,
    CarrierLimits,
    Customs,
    InvalidShippingRequest,
    Label,
    LabelFormat,
    LabelLookup,
    LabelRequest,
    LabelStatus,
    LabelUpdate,
    Parcel,
    Pickup,
    PickupRequest,
    Rate,
    RateRequest,
    ShippingAdapter,
    VoidRequest,
    VoidResult,
)
from shipping.providers.carrier_common import decimal_text, read_date, tracking_info
from shipping.providers.field_limits import (
    SHIPPO_ADDRESS_CHECK_FIELDS,
    SHIPPO_FIELDS,
    SHIPPO_PICKUP_FIELDS,
    SHIPPO_PICKUP_SERVICE_FIELDS,
    SHIPPO_SERVICE_FIELDS,
)
from shipping.providers.shippo_errors import (
    CONTENTS_TYPES,
    LABEL_FILE_TYPES,
    PENDING_STATUSES,
    messages_text,
    shippo_error_map,
    track_error_map,
    track_event,
    track_status,
)
from shipping.providers.tracking_types import TrackingInfo, TrackRequest

API_VERSION = "2018-02-08"  # the version public-api.yaml describes
# The query parameter's name, not a secret: /webhooks/<slug>/?token=<secret>.
WEBHOOK_TOKEN_PARAM = "token"  # noqa: S105
# How many recent transactions reconciliation reads to find ours.
LOOKUP_PAGE_SIZE = 100
# Webhook events whose ``data`` is a Transaction (a label's state).
LABEL_EVENTS = frozenset({"transaction_created", "transaction_updated"})


class ShippoAdapter(HttpAdapter, ShippingAdapter):
    code = "shippo"
    display_name = "Shippo"
    voids_by_tracking_number = False  # a refund names the transaction
    credential_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "api_token",
            "API token",
            help_text="shippo_live_... for a live account, shippo_test_... for test.",
        ),
        ConfigField(
            "webhook_token",
            "Webhook token",
            required=False,
            help_text="A long random value; register the webhook URL as "
            "/webhooks/<slug>/?token=<this value>.",
        ),
    )
    settings_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "customs_signer",
            "Customs signer",
            required=False,
            default="Shipping Desk",
            help_text="Who certifies international customs declarations.",
        ),
        ConfigField(
            "pickup_timezone",
            "Pickup time zone",
            required=False,
            help_text="IANA name (America/New_York) of the pickup address's zone; "
            "empty: the server's.",
        ),
    )
    base_urls: ClassVar[Mapping[str, str]] = {
        "test": "https://api.goshippo.com",
        "live": "https://api.goshippo.com",
    }
    # Shippo takes no idempotency key: a transaction is never resent blind.
    idempotency_header = None
    # A lost answer is looked for among the recent transactions (by our
    # metadata); one still being made may not be listed yet.
    lookup_lag_seconds = 3600
    default_headers: ClassVar[Mapping[str, str]] = {
        "Accept": "application/json",
        "SHIPPO-API-VERSION": API_VERSION,
    }
    label_formats = (LabelFormat.PDF, LabelFormat.PNG, LabelFormat.ZPL)
    limits = CarrierLimits(
        fields=SHIPPO_FIELDS,  # a zip everywhere: a label's, so its quote's
        service_fields=SHIPPO_SERVICE_FIELDS,  # its carriers' phones, by token
        pickup_fields=SHIPPO_PICKUP_FIELDS,  # a state and zip everywhere
        pickup_service_fields=SHIPPO_PICKUP_SERVICE_FIELDS,  # its carriers' phones
        address_fields=SHIPPO_ADDRESS_CHECK_FIELDS,  # its street limits too
    )
    # Shippo signs nothing: the secret token travels in the URL it posts to.
    webhook_signing_credential = "webhook_token"
    webhook_signature_header = ""
    webhook_signs_url = True

    def auth_headers(self) -> dict[str, str]:
        token = self.credential("api_token")
        # The token picks Shippo's mode (one URL serves both): a test account
        # must never buy billed labels, nor a live one call test labels live.
        other = "test" if self.account.mode == "live" else "live"
        if token.startswith(f"shippo_{other}_"):
            raise ConfigurationError(
                f"the Shippo API token is not a {self.account.mode}-mode token",
                code="mode_mismatch",
            )
        return {"Authorization": f"ShippoToken {token}"}

    def error_map(self, response: requests.Response) -> ProviderError | None:
        return shippo_error_map(response)

    def health_check(self) -> HealthResult:
        self.send(
            "GET",
            "/carrier_accounts",
            operation="shippo_health",
            params={"results": 1},
        )
        return HealthResult(ok=True, detail="API token accepted")

    # --- Rates -------------------------------------------------------------------

    def carrier_rates(self, request: RateRequest) -> list[Rate]:
        body: dict[str, Any] = {
            "address_from": _address(request.from_address),
            "address_to": _address(request.to_address),
            "parcels": [_parcel(parcel) for parcel in request.parcels],
            "async": False,
        }
        if request.ship_date:
            body["shipment_date"] = f"{request.ship_date.isoformat()}T12:00:00Z"
        if request.is_international and request.customs:
            body["customs_declaration"] = self._customs(request.customs)
        data = self.send("POST", "/shipments", operation="shippo_rates", json=body)
        return self.keep_priced(data.get("rates") or [], self._rate)

    def _rate(self, item: Mapping[str, Any]) -> Rate | None:
        currency = str(item.get("currency") or "")
        level = item.get("servicelevel") or {}
        token = str(level.get("token") or "")
        if len(currency) != 3 or not token or not item.get("object_id"):
            return None
        amount = self.rate_price(item.get("amount"), currency)
        if amount is None:
            return None
        provider = str(item.get("provider") or "")
        days = item.get("estimated_days")
        return Rate(
            carrier=provider,
            service_code=token,
            service_name=f"{provider} {level.get('name') or token}".strip(),
            amount=amount,
            currency=currency,
            transit_days=days if isinstance(days, int) and days >= 0 else None,
            carrier_rate_id=str(item["object_id"]),
            extra={"carrier_account": str(item.get("carrier_account") or "")},
        )

    def _customs(self, customs: Customs) -> dict[str, Any]:
        items = [
            {
                "description": item.description,
                "quantity": item.quantity,
                "net_weight": decimal_text(item.weight * item.quantity, 3),
                "mass_unit": str(item.weight_unit),
                "value_amount": self.to_provider_decimal(
                    item.value * item.quantity, item.currency
                ),
                "value_currency": item.currency,
                "origin_country": item.origin_country,
                **({"hs_code": item.hs_code} if item.hs_code else {}),
                **({"sku_code": item.sku} if item.sku else {}),
            }
            for item in customs.items
        ]
        return {
            "contents_type": CONTENTS_TYPES[customs.contents_type],
            "non_delivery_option": "RETURN",
            "certify": True,
            "certify_signer": str(self.setting("customs_signer")),
            "incoterm": customs.incoterm if customs.incoterm != "DAP" else "DDU",
            "items": items,
        }

    # --- Pickups (no cancel: Shippo documents none) ------------------------------

    def carrier_schedule_pickup(self, request: PickupRequest) -> Pickup:
        zone_name = str(self.setting("pickup_timezone") or "")
        body = shippo_pickups.pickup_body(
            request, address=_address, zone_name=zone_name
        )
        data = self.send(
            "POST", shippo_pickups.PATH, operation="shippo_schedule_pickup", json=body
        )
        return shippo_pickups.read_pickup(data, request, zone_name=zone_name)

    # --- Labels (transactions) ---------------------------------------------------

    def carrier_create_label(self, request: LabelRequest) -> Label:
        if not request.carrier_rate_id:
            raise InvalidShippingRequest(
                "carrier_rate_id is required: Shippo buys a rate it quoted",
                param="carrier_rate_id",
                code="missing_field",
            )
        body = {
            "rate": request.carrier_rate_id,
            "label_file_type": LABEL_FILE_TYPES[request.label_format],
            # Shippo waits for the label when it can; a slow carrier still
            # answers QUEUED, and reconciliation polls for it later.
            "async": False,
            "metadata": request.reference[:100],
        }
        data = self.send(
            "POST", "/transactions", operation="shippo_create_label", json=body
        )
        if data.get("status") == "ERROR":
            raise Rejected(
                messages_text(data) or "Shippo could not make the label",
                code="label_failed",
            )
        try:
            return self._bought_label(data, request)
        except ProviderError as error:
            if error.outcome == Outcome.UNKNOWN:
                raise
            # The label is bought; only fetching it failed. Never "failed":
            # the shop would buy again. Reconciliation fetches it later.
            raise Unknown(
                f"Shippo made the label but it could not be fetched: {error.message}",
                code="label_fetch_failed",
                http_status=error.http_status,
            ) from error

    def _bought_label(self, data: Mapping[str, Any], request: LabelRequest) -> Label:
        label = self._label(data, request.label_format)
        if not label.carrier_rate_id:
            label = dataclasses.replace(label, carrier_rate_id=request.carrier_rate_id)
        return self.label_with_parcels(label, parcels=len(request.parcels))

    def label_with_parcels(self, label: Label, *, parcels: int) -> Label:
        # A transaction names one parcel's label; the rate lists them all.
        if parcels < 2 or label.parcel_labels:
            return label
        return shippo_parcels.with_parcel_labels(
            self,
            label,
            label.carrier_rate_id,
            expected=parcels,
            fetch=self._label_file,
        )

    def carrier_retrieve_label(self, lookup: LabelLookup) -> Label | None:
        """A pending transaction polled by id; a lost answer found by our
        reference in the account's recent transactions."""
        if lookup.carrier_shipment_id:
            found = self.none_if_not_found(
                lambda: self.send(
                    "GET",
                    f"/transactions/{path_segment(lookup.carrier_shipment_id)}",
                    operation="shippo_retrieve_label",
                )
            )
        else:
            found = self._find_transaction(lookup.reference)
        if found is None or found.get("status") == "ERROR":
            return None
        return self._label(found, _format_of(found))

    def _find_transaction(self, reference: str) -> dict[str, Any] | None:
        page = self.send(
            "GET",
            "/transactions",
            operation="shippo_find_label",
            params={"results": LOOKUP_PAGE_SIZE},
        )
        for transaction in page.get("results") or []:
            if transaction.get("metadata") == reference[:100]:
                return transaction
        if page.get("next"):
            # Older than one page: we cannot say it does not exist.
            raise Unknown(
                "the transaction is not among Shippo's recent ones",
                code="lookup_incomplete",
            )
        return None

    def _label(
        self, transaction: Mapping[str, Any], label_format: LabelFormat
    ) -> Label:
        object_id = str(transaction.get("object_id") or "")
        if not object_id:
            raise Unknown(
                "Shippo answered without a transaction", code="malformed_response"
            )
        if transaction.get("status") in PENDING_STATUSES:
            return Label(status=LabelStatus.PENDING, carrier_shipment_id=object_id)
        rate = transaction.get("rate") or {}
        currency = str(rate.get("currency") or "") if isinstance(rate, Mapping) else ""
        return Label(
            status=LabelStatus.CREATED,
            carrier_shipment_id=object_id,
            tracking_number=str(transaction.get("tracking_number") or ""),
            label_data=self._label_file(transaction.get("label_url")),
            label_format=label_format,
            amount=self.billed_amount(rate.get("amount"), currency)
            if len(currency) == 3
            else None,
            currency=currency,
            service_code=str(rate.get("servicelevel_token") or "")
            if isinstance(rate, Mapping)
            else "",
            estimated_delivery=read_date(transaction.get("eta")),
            carrier_rate_id=shippo_parcels.rate_id_of(transaction),
        )

    def _label_file(self, url: object) -> bytes:
        """The label file Shippo hosts. Fetched through the shared client but
        without our token: the URL is a pre-signed file link, not the API."""
        if not isinstance(url, str) or urlsplit(url).scheme != "https":
            raise Unknown("Shippo sent no label URL", code="malformed_response")
        response = client_for(self.account).request(
            "GET",
            url,
            operation="shippo_label_file",
            idempotent=True,
            idempotency_header=None,
        )
        return response.content

    def carrier_void_label(self, request: VoidRequest) -> VoidResult:
        return shippo_refunds.void(self, request)

    # --- Tracking ------------------------------------------------------------------

    def carrier_track(self, request: TrackRequest) -> TrackingInfo:
        # Shippo tracks per carrier; its service level tokens start with it.
        carrier = request.service_code.split("_", 1)[0].lower()
        if not carrier:
            raise InvalidShippingRequest(
                "service_code is required: Shippo tracks per carrier",
                param="service_code",
                code="missing_field",
            )
        data = self.send(
            "GET",
            f"/tracks/{path_segment(carrier)}/{path_segment(request.tracking_number)}",
            operation="shippo_track",
            error_map=track_error_map,
        )
        return self._tracking(data, request.tracking_number)

    def _tracking(self, track: Mapping[str, Any], number: str) -> TrackingInfo:
        # Oldest first (the spec: "starting with the earlier tracking event").
        history = track.get("tracking_history") or []
        events = {track_event(entry): None for entry in history}
        current = track.get("tracking_status")
        if isinstance(current, Mapping):
            # The current state is a scan too, and the latest (the status's
            # truth): the history may not list it yet; listed, it is one
            # event, put last among any dated to the same second.
            latest = track_event(current)
            events.pop(latest, None)
            events[latest] = None
        return tracking_info(
            number,
            [event for event in events if event is not None],
            newest_first=False,
            estimated_delivery=read_date(track.get("eta")),
            status=track_status(current) if isinstance(current, Mapping) else None,
        )

    # --- Addresses -----------------------------------------------------------------

    def carrier_validate_address(self, address: Address) -> AddressValidation:
        body = {**_address(address), "validate": True}
        data = self.send(
            "POST", "/addresses", operation="shippo_validate_address", json=body
        )
        results = data.get("validation_results") or {}
        valid = results.get("is_valid") is True
        return AddressValidation(
            valid=valid,
            address=_address_of(data, address) if valid else None,
            residential=data.get("is_residential"),
            messages=tuple(
                str(m.get("text") or m.get("code"))
                for m in results.get("messages") or []
                if isinstance(m, Mapping)
            ),
        )

    # --- Webhooks --------------------------------------------------------------------

    def check_webhook_signature(self, request: SignedRequest) -> None:
        candidates = parse_qs(urlsplit(request.url).query).get(WEBHOOK_TOKEN_PARAM, [])
        if not candidates:
            raise WebhookVerificationError(
                "The webhook URL carries no token.",
                code=WebhookVerificationError.FORGED,
                param=WEBHOOK_TOKEN_PARAM,
            )
        require_match(request.secret, candidates, param=WEBHOOK_TOKEN_PARAM)
        # The body is read by webhook_message: once the token matched, one
        # that is no event is stored, not refused.
        return None

    def webhook_message(self, request: SignedRequest, verified: Any) -> WebhookMessage:
        payload = json_object(request.body, what="a Shippo event")
        event = str(payload.get("event") or "")
        data = payload.get("data") or {}
        if not event or not isinstance(data, Mapping):
            raise WebhookVerificationError(
                "The webhook body is not a Shippo event.",
                code=WebhookVerificationError.MALFORMED,
            )
        status = data.get("tracking_status") or {}
        status = status if isinstance(status, Mapping) else {}
        return WebhookMessage.build(
            event_type=event,
            dedupe_key=_dedupe_key(event, data, status),
            payload=dict(payload),
            occurred_at=iso_time(status.get("status_date")),
        )

    def parse_label_update(self, message: WebhookMessage) -> LabelUpdate | None:
        """``transaction_updated``: SUCCESS carries the label (its file is
        fetched as a poll would, once the update is known to settle one of
        ours), ERROR the carrier's reason, REFUNDED or REFUNDPENDING a
        refund (our void) made, REFUNDREJECTED one Shippo had accepted and
        then refused (both read again from Shippo before they are applied);
        QUEUED nothing."""
        if message.event_type not in LABEL_EVENTS:
            return None
        data = message.payload.get("data") or {}
        object_id = (
            str(data.get("object_id") or "") if isinstance(data, Mapping) else ""
        )
        status = data.get("status") if object_id else None
        reference = str(data.get("metadata") or "") if object_id else ""
        if status == "SUCCESS":
            fetch = functools.partial(self._label, data, _format_of(data))
            return LabelUpdate(object_id, reference=reference, fetch_label=fetch)
        if status in shippo_refunds.REFUND_STATES:
            return shippo_refunds.refund_update(self, object_id, reference, status)
        if status == "ERROR":
            return LabelUpdate(
                object_id,
                reference=reference,
                failure_code="label_failed",
                failure_message=messages_text(data)
                or "Shippo could not make the label",
            )
        return None

    def parse_tracking_update(self, message: WebhookMessage) -> TrackingInfo | None:
        if message.event_type != "track_updated":
            return None
        track = message.payload.get("data") or {}
        number = str(track.get("tracking_number") or "")
        if not number:
            return None
        return self._tracking(track, number)


# --- Wire shapes ------------------------------------------------------------------


def _dedupe_key(event: str, data: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    # Shippo sends no event id: one key per (object, state) it reports.
    parts = (
        event,
        str(data.get("tracking_number") or data.get("object_id") or ""),
        str(status.get("object_id") or ""),
        str(status.get("status") or data.get("status") or ""),
        str(status.get("status_date") or data.get("object_updated") or ""),
    )
    # surrogatepass: JSON may carry a lone surrogate, which UTF-8 refuses.
    joined = "|".join(parts).encode("utf-8", "surrogatepass")
    return f"{event}:{hashlib.sha256(joined).hexdigest()[:40]}"


def _format_of(transaction: Mapping[str, Any]) -> LabelFormat:
    file_type = str(transaction.get("label_file_type") or "")
    if file_type.startswith("ZPL"):
        return LabelFormat.ZPL
    return LabelFormat.PNG if file_type.startswith("PNG") else LabelFormat.PDF


def _address(address: Address) -> dict[str, Any]:
    lines = [line for line in address.street_lines if line] + ["", ""]
    wire: dict[str, Any] = {
        "name": address.name,
        "company": address.company,
        "street1": lines[0],
        "street2": lines[1],
        "city": address.city,
        "state": address.state_code,
        "zip": address.postal_code,
        "country": address.country_code,
        "phone": address.phone,
        "email": address.email,
    }
    # Optional AddressBase fields with no value are left out, not sent "":
    # an empty email is no "RFC3696/5321-compliant" address.
    wire = {key: value for key, value in wire.items() if value != ""}
    if address.residential is not None:
        wire["is_residential"] = address.residential
    return wire


def _parcel(parcel: Parcel) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "weight": decimal_text(parcel.weight, 3),
        "mass_unit": str(parcel.weight_unit),
        "distance_unit": str(parcel.dimension_unit),
    }
    sides = (parcel.length, parcel.width, parcel.height)
    # Shippo requires dimensions; an envelope without them is rated as 1x1x1.
    names = ("length", "width", "height")
    for name, side in zip(names, sides, strict=True):
        wire[name] = decimal_text(side, 2) if side is not None else "1"
    return wire


def _address_of(data: Mapping[str, Any], given: Address) -> Address:
    lines = tuple(
        str(data[key]) for key in ("street1", "street2", "street3") if data.get(key)
    )
    return Address(
        name=given.name,
        company=given.company,
        phone=given.phone,
        email=given.email,
        street_lines=lines or given.street_lines,
        city=str(data.get("city") or given.city),
        state_code=str(data.get("state") or given.state_code),
        postal_code=str(data.get("zip") or given.postal_code),
        country_code=str(data.get("country") or given.country_code),
        residential=data.get("is_residential"),
    )


__all__ = ["ShippoAdapter"]
