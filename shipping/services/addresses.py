"""Address validation at one carrier: the one named, or the first enabled
shipping account (by priority) whose carrier validates addresses."""

from integrations import registry
from integrations.models import ProviderAccount
from shipping.providers.base import Address, AddressValidation
from shipping.services.errors import NotFound


def address_validate(
    *, address: Address, account_slug: str = ""
) -> tuple[ProviderAccount, AddressValidation]:
    accounts = ProviderAccount.objects.filter(kind="shipping", enabled=True)
    if account_slug:
        accounts = accounts.filter(slug=account_slug)
    for account in accounts.order_by("priority", "pk"):
        adapter = registry.get_adapter(account)
        if adapter.supports("validate_address"):
            return account, adapter.validate_address(address)
    raise NotFound("no enabled shipping account validates addresses", param="account")
