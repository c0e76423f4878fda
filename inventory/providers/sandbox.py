from inventory.providers.base import InventoryAdapter
from integrations.providers.sandbox import SandboxAdapter


class SandboxInventoryAdapter(SandboxAdapter, InventoryAdapter):
    display_name = "Sandbox inventory"
