"""What a message is checked against before anything is stored: the
recipient's address, the category, a value given to the provider as a
header. EmailInvalid names the field, for the API's error."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from notifications.models import ADDRESS_MAX_LENGTH, ascii_address
from notifications.providers.base import (
    HEADER_BREAKS,
    INVALID_HEADER,
    EmailCategory,
    domain_ascii,
)


class EmailInvalid(ValueError):
    """A message that cannot be sent as asked; ``code`` and ``param`` say
    why (``invalid_email``, ``invalid_category``, ``suppressed``); ``row``
    is the bulk recipient it is about, counted from 1 (0: none)."""

    def __init__(
        self, message: str, *, code: str, param: str = "", row: int = 0
    ) -> None:
        super().__init__(message)
        self.code = code
        self.param = param
        self.row = row


def email_address_check(address: str) -> str:
    """``address`` stripped, or EmailInvalid(invalid_email): not an address,
    too long, a quoted local part, or no mail domain."""
    address = (address or "").strip()
    try:
        validate_email(address)
        # Django takes an address literal (ada@[10.0.0.5]) and ada@localhost:
        # a customer's address names a mail domain, or a relay on our network
        # would deliver to a host of the customer's choosing.
        if not domain_ascii(address.rpartition("@")[2]):
            raise ValidationError("no mail domain")
        # The stored column's bound (RFC 5321's path limit), under Django's 320,
        # for the form it is sent and suppressed in too (an IDN domain grows
        # when encoded).
        if len(ascii_address(address)) > ADDRESS_MAX_LENGTH:
            raise ValidationError("too long")
    except ValidationError:
        raise EmailInvalid(
            "The recipient is not a valid email address.",
            code="invalid_email",
            param="to",
        ) from None
    if address.rpartition("@")[0].startswith('"'):
        # RFC 5322 allows a quoted local part ("a,b"@example.com), but
        # Postmark and Mailgun take recipients as comma-separated lists and
        # document no quoting: a comma or @ in it could become a second
        # recipient. RFC 5321 4.1.2 advises against such mailboxes.
        raise EmailInvalid(
            'Quoted local parts ("..."@domain) are not accepted: providers '
            "read recipients as comma-separated lists.",
            code="invalid_email",
            param="to",
        )
    return address


def email_header_value_check(value: str, *, param: str) -> None:
    """EmailInvalid(invalid_header) for a value the provider is given as a
    header or metadata (``order_id``) holding a CR, LF or NUL: the line would
    become a header of its own. The message names the field, not the value."""
    if HEADER_BREAKS.search(value):
        raise EmailInvalid(
            f"The {param} may not hold a line break or NUL: the email "
            "provider is given it with the message's headers.",
            code=INVALID_HEADER,
            param=param,
        )


def email_category_check(category: str) -> None:
    """EmailInvalid(invalid_category) for an unknown category."""
    if category not in EmailCategory.__members__.values():
        raise EmailInvalid(
            "Unknown email category.", code="invalid_category", param="category"
        )
