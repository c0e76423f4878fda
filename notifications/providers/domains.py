"""Domains as providers name them: the ASCII (IDNA) form of a domain or an
address, and the ``sending_domains`` setting that tells our events from
another system's on a shared account."""

import re
from email.utils import parseaddr
from typing import Any

import idna

from integrations.providers.base import ConfigField

__all__ = [
    "SENDING_DOMAINS_FIELD",
    "address_domain",
    "domain_ascii",
    "domain_entries",
    "idn_address",
    "idn_ascii",
    "sending_domain_entry",
    "sending_domains_clean",
    "sending_domains_errors",
]

# For providers whose events name the sender: on an account shared with
# another system, an event naming no message of ours and another sender's
# domain is that system's (docs/providers/email.md, "Shared accounts").
SENDING_DOMAINS_FIELD = ConfigField(
    "sending_domains",
    "Our sending domains",
    type="text",
    required=False,
    help_text="The domains this service sends from on this account (one per "
    "line or comma-separated; a domain counts with its subdomains, *.example.com "
    "is example.com). On an account shared with another system, an event naming "
    "no message of ours and another sender domain is then ignored. Empty: the "
    "sender is not checked (Postmark still ignores another system's message "
    "streams).",
)
# A label of a host name (RFC 1123): letters, digits, inner hyphens.
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


def address_domain(value: Any) -> str:
    """The domain of an address as a provider names a sender (``a@b``,
    ``"Name" <a@b>``), lower case; "" for anything else."""
    if not isinstance(value, str):
        return ""
    address = parseaddr(value)[1]
    local, at, domain = address.rpartition("@")
    return domain.strip().lower().rstrip(".") if at and local else ""


def domain_ascii(value: str) -> str:
    """``value`` as a domain in the ASCII form providers name it in: lower
    case, no trailing dot, an internationalised domain as ``xn--`` (IDNA
    2008 / UTS 46, else IDNA 2003, under which emoji domains such as
    ``i❤.ws`` were registered: ``idn_ascii``); "" when it is not a domain
    name."""
    domain = value.strip().lower().rstrip(".")
    if not domain.isascii():
        domain = idn_ascii(domain)
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or labels[-1].isdigit():
        return ""  # too long, a bare name, or an IP address
    return domain if all(_LABEL.match(label) for label in labels) else ""


def sending_domain_entry(entry: str) -> str:
    """One ``sending_domains`` entry as a domain (``domain_ascii``): a leading
    ``*.`` is dropped (a domain's subdomains count as ours anyway); "" for
    anything else that is not a domain (an address, a URL)."""
    entry = entry.strip()
    return domain_ascii(entry[2:] if entry.startswith("*.") else entry)


def sending_domains_errors(raw: object) -> list[str]:
    """The entries of a ``sending_domains`` value that are not domains, for
    the account form to refuse."""
    return [e for e in domain_entries(raw) if not sending_domain_entry(e)]


def sending_domains_clean(raw: object) -> str:
    """A ``sending_domains`` value as it is to be stored: each entry in its
    ASCII form (``sending_domain_entry``), one a line, without repeats.
    ValueError, naming the entries, when one is not a domain."""
    wrong = sending_domains_errors(raw)
    if wrong:
        raise ValueError(
            "Not a domain name: " + ", ".join(wrong) + ". Give domains only "
            "(example.com); their subdomains count too."
        )
    return "\n".join(dict.fromkeys(map(sending_domain_entry, domain_entries(raw))))


def domain_entries(raw: object) -> list[str]:
    return [e for e in re.split(r"[\s,;]+", str(raw or "")) if e.strip(".")]


def idn_ascii(domain: str) -> str:
    """``domain`` (a domain name or one label of it) in the ASCII form
    providers name it in, lower case: an internationalised one as ``xn--``
    by IDNA 2008 with UTS 46 mapping, else by IDNA 2003, under which emoji
    domains such as ``i❤.ws`` were registered; "" when neither encodes it.
    The one encoding of a domain here: suppressions, sending domains and
    admin search must agree on it, or one spelling never finds the other."""
    if domain.isascii():
        return domain.lower()
    try:
        return idna.encode(domain, uts46=True).decode("ascii").lower()
    except UnicodeError:  # idna.IDNAError is one
        pass
    try:
        # Python's codec is IDNA 2003; it keeps an ASCII label's case.
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return ""


def idn_address(address: str) -> str:
    """``address`` with an internationalised domain in its ASCII form
    (``idn_ascii``), everything else as given; "" when the domain has none.
    The one domain step of an address, for our keys and for the wire."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    encoded = idn_ascii(domain)
    return f"{local}@{encoded}" if encoded else ""
