"""A shipping carrier for benchmarks and tests over the local fault server:
one JSON POST to ``<account settings base_url>/rates`` through the shared
client (breaker, limiter, call log), answered as rates. Registered by the
benchmark as provider ``bench_carrier``; never in production settings."""

from typing import Any, ClassVar

from integrations.providers.base import HealthResult
from integrations.providers.http import HttpAdapter
from shipping.providers.base import (
    Label,
    LabelRequest,
    Rate,
    RateRequest,
    ShippingAdapter,
    VoidRequest,
    VoidResult,
)
from shipping.providers.tracking_types import TrackingInfo, TrackRequest

PATH = "bench.shipping_carrier.FaultServerCarrier"


class FaultServerCarrier(HttpAdapter, ShippingAdapter):
    code = "bench_carrier"
    display_name = "Fault-server carrier"
    idempotency_header: ClassVar[str | None] = None

    @property
    def base_url(self) -> str:
        # A test carrier with no credentials: its address is a setting.
        return str(self.account.settings["base_url"])

    def health_check(self) -> HealthResult:
        return HealthResult(ok=True)

    def carrier_rates(self, request: RateRequest) -> list[Rate]:
        body = {"weight_kg": str(request.parcels[0].weight_in("kg"))}
        data = self.send("POST", "/rates", operation="rates", json=body)
        return [_rate(item) for item in data.get("rates", [])]

    def carrier_create_label(self, request: LabelRequest) -> Label:
        raise NotImplementedError("the bench carrier only quotes")

    def carrier_void_label(self, request: VoidRequest) -> VoidResult:
        raise NotImplementedError("the bench carrier only quotes")

    def carrier_track(self, request: TrackRequest) -> TrackingInfo:
        raise NotImplementedError("the bench carrier only quotes")


def _rate(item: dict[str, Any]) -> Rate:
    return Rate(
        carrier="bench",
        service_code=str(item["service"]),
        service_name=str(item["service"]).title(),
        amount=int(item["amount"]),
        currency=str(item["currency"]),
        transit_days=int(item["days"]),
    )
