"""Admin search by an email address in either spelling of its domain.

Suppressions store an internationalised domain in its ASCII (IDNA) form, as
providers' events name it (``normalise_address``); the email log keeps the
address as it was given, so either form. Staff type what the customer wrote
(``user@bücher.de``) or what a provider showed (``xn--bcher-kva``); Django's
search compares the text as typed, so one spelling never found the other.
The term is searched as typed and in each other spelling of its domain.
"""

import re
from collections.abc import Callable

import idna
from django.db.models import QuerySet
from django.http import HttpRequest

from notifications.providers.base import idn_ascii

# A domain label (or a part typed of one): what IDNA converts on its own.
_LABEL = re.compile(r"[^\s.@\"']+")
# A domain (or a part typed of one): labels and the dots between them.
_DOMAIN = re.compile(r"[^\s@\"']+")


def address_spellings(term: str) -> list[str]:
    """``term`` with its domain labels in the ASCII and in the Unicode form,
    each only when it differs from ``term``. A word without ``@`` may be a
    domain or a local part: it is converted too (``term`` itself stays
    searched); a local part after ``@`` never is."""
    found = []
    words = term.split()
    for convert in (
        _ascii_domain,
        _label_wise(_ascii_label),
        _label_wise(_unicode_label),
    ):
        spelling = " ".join(convert(word) for word in words)
        if spelling != " ".join(words) and spelling not in found:
            found.append(spelling)
    return found


def _label_wise(convert: Callable[[str], str]) -> Callable[[str], str]:
    def word_spelling(word: str) -> str:
        local, at, domain = word.rpartition("@")
        return local + at + _LABEL.sub(lambda m: convert(m.group()), domain)

    return word_spelling


def _ascii_domain(word: str) -> str:
    """``word``'s domain encoded as a whole (``idn_ascii``), else label by
    label."""
    local, at, domain = word.rpartition("@")
    if not domain.isascii() and _DOMAIN.fullmatch(domain):
        encoded = idn_ascii(domain)
        if encoded:
            return local + at + encoded
    return _label_wise(_ascii_label)(word)


def _ascii_label(label: str) -> str:
    # The encoding suppressions are stored in (normalise_address).
    return label if label.isascii() else idn_ascii(label) or label


def _unicode_label(label: str) -> str:
    if not label.lower().startswith("xn--"):
        return label
    label = label.lower()
    try:
        return idna.decode(label)
    except idna.IDNAError:
        pass
    try:
        # IDNA 2003 (emoji domains): only a label idn_ascii spells so.
        decoded = label.encode("ascii").decode("idna")
    except UnicodeError:
        # A label typed in part is no valid punycode: searched as typed.
        return label
    return decoded if idn_ascii(decoded) == label else label


class AddressSearchMixin:
    """Put it before ``admin.ModelAdmin`` (and other search mixins): the
    rows Django's search finds for the term as typed, or for any other
    spelling of its domains."""

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        search = super().get_search_results  # type: ignore[misc]
        found, duplicates = search(request, queryset, search_term)
        for spelling in address_spellings(search_term):
            more, more_duplicates = search(request, queryset, spelling)
            found = found | more
            duplicates = duplicates or more_duplicates
        return found, duplicates
