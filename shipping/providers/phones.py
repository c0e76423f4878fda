"""A phone's extension told apart from its number, for carriers that take
the extension in a field of its own (UPS Phone.Extension, FedEx
phoneExtension): sent as the number's digits, "+1 217 555 0199 x12" would
dial 1217555019912, a wrong number on the label."""

import re

# "x12", "x 12", "ext12", "ext. 12", "extension 12", " #12" at the end; a "#"
# only after a space or comma ("555#0199" is not an extension).
_EXTENSION = re.compile(
    r"(?:\s*(?:x|ext\.?|extension)|(?:\s+|\s*,\s*)#)\s*(\d+)\s*$", re.IGNORECASE
)
# What a number may hold besides its digits: anything else (letters of a
# vanity number, an extension form not recognised, a dialler's "," pause
# before an extension) cannot be read as digits.
_NUMBER = re.compile(r"[\d\s+\-()./]*")


def split_phone(phone: str) -> tuple[str, str]:
    """(the number as given, the extension's digits; "" when none)."""
    match = _EXTENSION.search(phone)
    if match is None or not any(ch.isdigit() for ch in phone[: match.start()]):
        return phone, ""
    return phone[: match.start()].rstrip(" ,;"), match.group(1)


def phone_readable(phone: str) -> bool:
    """Whether ``phone``'s number is digits and punctuation once its
    extension is split off: else its digits alone would be a wrong number."""
    return _NUMBER.fullmatch(split_phone(phone)[0]) is not None


def phone_digits(phone: str) -> str:
    """The number's digits, its extension left out (``split_phone``)."""
    return "".join(ch for ch in split_phone(phone)[0] if ch.isdigit())


def phone_extension(phone: str) -> str:
    return split_phone(phone)[1]
