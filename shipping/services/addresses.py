"""Address validation at one carrier: the one named, or the first enabled
shipping account (by priority) whose carrier validates addresses."""

import logging

from integrations import registry
from integrations.errors import Outcome, ProviderError
from integrations.models import ProviderAccount
from shipping.providers.base import Address, AddressValidation
from shipping.providers.validation import InvalidShippingRequest
from shipping.services.errors import NotFound, carrier_refusal

logger = logging.getLogger(__name__)


def address_validate(
    *, address: Address, account_slug: str = ""
) -> tuple[ProviderAccount, AddressValidation]:
    accounts = ProviderAccount.objects.filter(kind="shipping", enabled=True)
    if account_slug:
        accounts = accounts.filter(slug=account_slug)
    for account in accounts.order_by("priority", "pk"):
        adapter = registry.get_adapter(account)
        if adapter.supports("validate_address"):
            return account, _validated(account, adapter, address)
    raise NotFound("no enabled shipping account validates addresses", param="account")


def _validated(
    account: ProviderAccount, adapter: object, address: Address
) -> AddressValidation:
    """The carrier's answer; a refusal in our words, its text logged for
    staff (no row keeps an address check)."""
    try:
        return adapter.validate_address(address)
    except ProviderError as error:
        if isinstance(error, InvalidShippingRequest):
            raise  # our own check, in our words
        if error.outcome != Outcome.REJECTED:
            raise
        refusal = carrier_refusal(error, refused="the address check")
        logger.warning(
            "carrier refused an address check",
            extra={
                "account": account.slug,
                "code": error.code,
                "carrier_text": refusal.staff_detail,
            },
        )
        raise refusal from None
