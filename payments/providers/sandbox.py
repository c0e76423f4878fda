from payments.providers.base import PaymentsAdapter
from integrations.providers.sandbox import SandboxAdapter


class SandboxPaymentsAdapter(SandboxAdapter, PaymentsAdapter):
    display_name = "Sandbox payments"
