"""Contract harness for the inventory sandbox (tests/contract/sandbox.py): faults
from account settings, webhooks signed as its own deliveries are."""

from tests.contract.sandbox import NOT_APPLICABLE, SandboxHarness

__all__ = ["NOT_APPLICABLE"]

PROVIDER = "sandbox"
_sandbox = SandboxHarness(kind="inventory", event_type="inventory.level_changed")

make_account = _sandbox.make_account
unauthorized_401 = _sandbox.unauthorized_401
connection_refused = _sandbox.connection_refused
server_error_500 = _sandbox.server_error_500
read_timeout = _sandbox.read_timeout
webhook_valid = _sandbox.webhook_valid
webhook_forged = _sandbox.webhook_forged
webhook_stale = _sandbox.webhook_stale
