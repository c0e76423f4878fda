"""fraud21's migration 0014: e-mail blocklist entries stored with their
domain in ASCII, duplicates of one domain merged, everything else kept;
backwards changes nothing. Historical models only. Needs ``--migrations``."""

import pytest
from django.core.management import call_command

from tests.migration_state import historical_apps, migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]
# Full-width spellings (NFKC folds them to ASCII), escaped for the linter.
EVIL_LOWER = "\uff45\uff56\uff49\uff4c"  # evil
BEFORE = "0013_saved_method_screening_fields"
AFTER = "0014_blocklist_email_domains_ascii"

ROWS = [
    ("email", "@bücher.de", "ring"),
    ("email", "@xn--bcher-kva.de", ""),  # the same domain, spelled in ASCII
    ("email", f"ada@{EVIL_LOWER}.test", "typed full-width"),
    ("email", "@evil.test.", ""),
    ("email", "@plain.example", "as before"),
    ("email", "@" + "ü" * 70 + ".example", "no domain"),  # a label too long
    ("ip", "10.0.0.0/8", ""),
    ("card", "fp_Bücher", ""),
]


def _entries(migration: str) -> dict[tuple[str, str], str]:
    model = historical_apps("payments", migration).get_model(
        "payments", "BlocklistEntry"
    )
    return {(e.kind, e.value): e.reason for e in model.objects.all()}


def test_0014_stores_email_domains_in_ascii(request):
    with migrated_back(request, "payments", BEFORE):
        model = historical_apps("payments", BEFORE).get_model(
            "payments", "BlocklistEntry"
        )
        for kind, value, reason in ROWS:
            model.objects.create(kind=kind, value=value, reason=reason)

    assert _entries(AFTER) == {
        ("email", "@xn--bcher-kva.de"): "ring",
        ("email", "ada@evil.test"): "typed full-width",
        ("email", "@evil.test"): "",
        ("email", "@plain.example"): "as before",
        ("email", "@" + "ü" * 70 + ".example"): "no domain",
        ("ip", "10.0.0.0/8"): "",
        ("card", "fp_Bücher"): "",
    }


def test_0014_backwards_changes_nothing(request):
    with migrated_back(request, "payments", AFTER):
        model = historical_apps("payments", AFTER).get_model(
            "payments", "BlocklistEntry"
        )
        model.objects.create(kind="email", value="@xn--bcher-kva.de", reason="r")
        call_command("migrate", "payments", BEFORE, verbosity=0)
        assert _entries(BEFORE) == {("email", "@xn--bcher-kva.de"): "r"}
