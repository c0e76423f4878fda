from integrations.providers.sandbox import SandboxAdapter
from notifications.providers.base import EmailAdapter


class SandboxEmailAdapter(SandboxAdapter, EmailAdapter):
    display_name = "Sandbox email"
