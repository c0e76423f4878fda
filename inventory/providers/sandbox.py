from integrations.providers.sandbox import SandboxAdapter
from inventory.providers.base import InventoryAdapter


class SandboxInventoryAdapter(SandboxAdapter, InventoryAdapter):
    display_name = "Sandbox inventory"
