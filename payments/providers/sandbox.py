from integrations.providers.sandbox import SandboxAdapter
from payments.providers.base import PaymentsAdapter


class SandboxPaymentsAdapter(SandboxAdapter, PaymentsAdapter):
    display_name = "Sandbox payments"
