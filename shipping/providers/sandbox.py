from shipping.providers.base import ShippingAdapter
from integrations.providers.sandbox import SandboxAdapter


class SandboxShippingAdapter(SandboxAdapter, ShippingAdapter):
    display_name = "Sandbox shipping"
