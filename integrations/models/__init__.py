from integrations.models.accounts import ProviderAccount
from integrations.models.api import ApiKey, IdempotencyRecord

__all__ = ["ApiKey", "IdempotencyRecord", "ProviderAccount"]
