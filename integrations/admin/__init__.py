# One module per area; each registers its own ModelAdmins.
from integrations.admin import accounts  # noqa: F401
