from notifications.providers.base import EmailAdapter
from integrations.providers.sandbox import SandboxAdapter


class SandboxEmailAdapter(SandboxAdapter, EmailAdapter):
    display_name = "Sandbox email"
