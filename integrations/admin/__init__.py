# One module per area; each registers its own ModelAdmins.
from integrations.admin import (
    accounts,  # noqa: F401
    api_keys,  # noqa: F401
    batch,  # noqa: F401
    calls,  # noqa: F401
    events,  # noqa: F401
    task_queue,  # noqa: F401
    users,  # noqa: F401
    webhooks,  # noqa: F401
)
