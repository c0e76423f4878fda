from integrations.providers.sandbox import SandboxAdapter
from shipping.providers.base import ShippingAdapter


class SandboxShippingAdapter(SandboxAdapter, ShippingAdapter):
    display_name = "Sandbox shipping"
