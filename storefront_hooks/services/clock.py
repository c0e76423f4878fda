"""The database's clock, for stamps two processes compare: the core's
(``integrations.clock``), named here as the deliveries have always had it."""

from integrations.clock import database_now, stamp

__all__ = ["database_now", "stamp"]
