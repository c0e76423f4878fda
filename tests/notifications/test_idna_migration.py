"""Migration 0004: suppressions and bulk recipients stored under an emoji
(IDNA 2003) domain in Unicode are re-keyed to the ``xn--`` form providers
name, merging two spellings of one address, never failing on a value it
cannot encode; backwards keeps both spellings stopped for the release
before. The functions on today's tables (fast), and the real ``migrate``
both ways on the database (``--migrations -m migrations``). Rows the old
release writes during the deploy: ``manage.py rekey_addresses``."""

import importlib
from collections.abc import Iterator
from io import StringIO

import pytest
from django.apps import apps as django_apps
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection

from integrations.batch.services import batch_job_create
from notifications.management.commands import rekey_addresses
from notifications.models import BulkRecipient, BulkSend, Suppression
from notifications.services import bulk as bulk_service
from notifications.services.bulk import bulk_send_counts, bulk_send_create
from notifications.services.suppressions import (
    suppression_add,
    suppression_blocks,
    suppression_remove,
)
from tests.migration_state import (
    historical_apps,
    migrated_back,
    skip_without_migrations,
)

migration = importlib.import_module("notifications.migrations.0004_idna_2003_addresses")
NEWS = {"headline": "Spring sale", "body": "Everything is 10% off."}
# 237 characters as stored, 258 once encoded: more than the column takes.
LONG = "a" * 180 + "@" + ".".join("❤" * 16 + str(k) for k in range(3)) + ".ws"


class _Editor:
    connection = connection


def _forwards() -> None:
    migration.forwards(django_apps, _Editor())


def _backwards() -> None:
    migration.backwards(django_apps, _Editor())


def _active() -> dict[str, str]:
    rows = Suppression.objects.filter(removed_at__isnull=True)
    return dict(rows.values_list("address", "reason"))


@pytest.mark.django_db
def test_forwards_rekeys_emoji_domains_and_keeps_the_stronger_of_two_spellings():
    # Stored by the release before: an emoji domain as typed, or as a
    # provider's event named it.
    unsub = Suppression.objects.create(address="ada@i❤.ws", reason="unsubscribe")
    bounce = Suppression.objects.create(
        address="ada@xn--i-7iq.ws", reason="hard_bounce"
    )
    complaint = Suppression.objects.create(address="bo@i❤.ws", reason="complaint")
    weak = Suppression.objects.create(address="bo@xn--i-7iq.ws", reason="unsubscribe")
    lifted = Suppression.objects.create(
        address="cy@i❤.ws", reason="manual", removed_reason="ok"
    )
    lifted.removed_at = lifted.created_at
    lifted.save()
    kept = ["dee@bü..de", LONG, "eve@example.com", "fay@xn--bcher-kva.de"]
    for address in kept:
        Suppression.objects.create(address=address, reason="manual")

    _forwards()

    assert _active() == {
        "ada@xn--i-7iq.ws": "hard_bounce",
        "bo@xn--i-7iq.ws": "complaint",
        **dict.fromkeys(kept, "manual"),
    }
    for row in (unsub, bounce, complaint, weak, lifted):
        row.refresh_from_db()
    assert unsub.address == "ada@xn--i-7iq.ws"
    assert unsub.removed_reason == f"merged into suppression {bounce.pk}"
    assert weak.removed_reason == f"merged into suppression {complaint.pk}"
    assert lifted.address == "cy@xn--i-7iq.ws" and lifted.removed_reason == "ok"
    assert suppression_blocks("ADA@I❤.ws", "transactional") == bounce
    # The merged unsubscribe counts as superseded: lifting the bounce keeps it.
    suppression_remove(address="ada@i❤.ws", reason="mailbox fixed")
    assert suppression_blocks("ada@i❤.ws", "marketing").reason == "unsubscribe"


@pytest.mark.django_db
def test_forwards_run_again_changes_nothing() -> None:
    Suppression.objects.create(address="ada@i❤.ws", reason="unsubscribe")
    Suppression.objects.create(address="ada@xn--i-7iq.ws", reason="complaint")
    _forwards()
    before = list(Suppression.objects.values())
    _forwards()
    assert list(Suppression.objects.values()) == before


@pytest.mark.django_db
def test_forwards_rekeys_bulk_recipients_keeping_a_colliding_one_as_given() -> None:
    bulk = bulk_send_create(
        template="newsletter",
        context=NEWS,
        recipients=[{"email": "one@example.com"}],
        start=False,
    ).bulk_send
    rows = {
        email: BulkRecipient.objects.create(bulk_send=bulk, job=bulk.job, email=email)
        for email in ("ada@i❤.ws", "bo@i❤.ws", "bo@xn--i-7iq.ws", LONG)
    }
    assert BulkSend.objects.get(pk=bulk.pk).recipients.count() == 5

    _forwards()

    emails = {e: BulkRecipient.objects.get(pk=r.pk).email for e, r in rows.items()}
    assert emails == {
        "ada@i❤.ws": "ada@xn--i-7iq.ws",
        "bo@i❤.ws": "bo@i❤.ws",  # its send has the key already
        "bo@xn--i-7iq.ws": "bo@xn--i-7iq.ws",
        LONG: LONG,
    }
    # ... and, not worked yet, is done as a duplicate (a send keeps an
    # address once), not left pending to send the mailbox a second copy.
    duplicate = BulkRecipient.objects.get(pk=rows["bo@i❤.ws"].pk)
    assert duplicate.status == "done"
    assert (
        duplicate.last_error == f"duplicate of recipient {rows['bo@xn--i-7iq.ws'].pk}"
    )
    assert bulk_send_counts(bulk) == {"pending": 4, "duplicate": 1}
    bulk.job.refresh_from_db()
    assert bulk.job.done == 1


def _rekey() -> str:
    out = StringIO()
    call_command("rekey_addresses", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_rekey_addresses_rekeys_what_the_old_release_wrote_after_the_migration():
    # 0004 ran at the deploy; the old release, still taking webhooks and
    # working bulk sends meanwhile, stored emoji domains as spelt.
    _forwards()
    Suppression.objects.create(address="ada@i❤.ws", reason="hard_bounce")
    Suppression.objects.create(address="bo@i❤.ws", reason="unsubscribe")
    Suppression.objects.create(address="bo@xn--i-7iq.ws", reason="complaint")
    bulk = bulk_send_create(
        template="newsletter",
        context=NEWS,
        recipients=[{"email": "cy@xn--i-7iq.ws"}],
        start=False,
    ).bulk_send
    for email in ("cy@i❤.ws", "dee@i❤.ws"):
        BulkRecipient.objects.create(bulk_send=bulk, job=bulk.job, email=email)

    assert _rekey() == (
        "Re-keyed 2 suppression(s) (1 merged into an active one) and 1 bulk "
        "recipient(s); 1 recipient(s) done as a duplicate, 0 row(s) kept as "
        "given.\n"
    )

    assert suppression_blocks("ada@i❤.ws", "transactional").reason == "hard_bounce"
    assert _active() == {
        "ada@xn--i-7iq.ws": "hard_bounce",
        "bo@xn--i-7iq.ws": "complaint",
    }
    emails = set(bulk.recipients.values_list("email", "status"))
    assert emails == {
        ("cy@xn--i-7iq.ws", "pending"),
        ("cy@i❤.ws", "done"),
        ("dee@xn--i-7iq.ws", "pending"),
    }
    before = list(Suppression.objects.values()), list(BulkRecipient.objects.values())
    # Run again: nothing to do.
    assert _rekey().startswith("Re-keyed 0 suppression(s) (0 merged")
    after = list(Suppression.objects.values()), list(BulkRecipient.objects.values())
    assert after == before


@pytest.mark.django_db
def test_rekey_addresses_says_why_it_stopped_in_one_line(monkeypatch) -> None:
    def broken():
        raise OperationalError("server closed the connection\nunexpectedly")

    monkeypatch.setattr(rekey_addresses, "addresses_rekey", broken)
    with pytest.raises(CommandError) as info:
        _rekey()
    assert "\n" not in str(info.value)
    assert "OperationalError: server closed the connection" in str(info.value)


@pytest.mark.migrations
@pytest.mark.django_db(transaction=True)
def test_rekey_addresses_after_migrate_rekeys_rows_the_old_release_wrote(
    request,
) -> None:
    skip_without_migrations(request)
    call_command("migrate", verbosity=0)  # 0004 ran: the deploy's migrate
    # The old release, still taking webhooks during the deploy, stores a
    # hard bounce of an emoji domain as spelt (IDNA 2008 refuses the emoji).
    Suppression.objects.create(address="ada@i❤.ws", reason="hard_bounce")
    call_command("migrate", verbosity=0)  # recorded applied: does nothing
    assert suppression_blocks("ada@i❤.ws", "transactional") is None
    _rekey()  # docs/notifications.md: run after the deploy
    assert suppression_blocks("ada@i❤.ws", "transactional") is not None


@pytest.mark.django_db
def test_three_spellings_merge_to_one_and_keep_the_unsubscribe_as_history() -> None:
    # The old release kept an emoji domain as typed: with '.' and with an
    # ideographic full stop (both IDNA 2003 label separators), plus the xn--
    # form a provider named.
    Suppression.objects.create(address="ada@i❤.ws", reason="unsubscribe")
    Suppression.objects.create(address="ada@i❤。ws", reason="complaint")
    Suppression.objects.create(address="ada@xn--i-7iq.ws", reason="manual")
    _forwards()
    assert _active() == {"ada@xn--i-7iq.ws": "complaint"}
    suppression_remove(address="ada@i❤.ws", reason="fixed")
    assert _active() == {"ada@xn--i-7iq.ws": "unsubscribe"}


@pytest.mark.django_db
def test_backwards_keeps_both_spellings_stopped_and_forwards_merges_them() -> None:
    Suppression.objects.create(address="ada@i❤.ws", reason="complaint")
    Suppression.objects.create(address="bo@xn--bcher-kva.xn--i-7iq.ws", reason="manual")
    Suppression.objects.create(address="cy@xn--bcher-kva.de", reason="manual")
    _forwards()

    _backwards()

    # The release before looks an emoji domain up as spelt in Unicode.
    assert _active() == {
        "ada@xn--i-7iq.ws": "complaint",
        "ada@i❤.ws": "complaint",
        "bo@xn--bcher-kva.xn--i-7iq.ws": "manual",
        "bo@bücher.i❤.ws": "manual",
        "cy@xn--bcher-kva.de": "manual",
    }
    _backwards()  # run again: no second copy
    assert len(_active()) == 5
    _forwards()
    assert _active() == {
        "ada@xn--i-7iq.ws": "complaint",
        "bo@xn--bcher-kva.xn--i-7iq.ws": "manual",
        "cy@xn--bcher-kva.de": "manual",
    }


@pytest.mark.django_db
def test_backwards_keeps_a_deviation_spelling_stopped_for_the_release_before() -> None:
    # The customer typed faß (a deviation character IDNA 2003 maps to "ss")
    # on an emoji domain; this release keys it fass.xn--i-7iq.ws. Rolled
    # back, the release before looks the address up as typed (IDNA 2008
    # refuses the emoji, so as given): under either spelling, as both are
    # the one domain IDNA 2003 registered.
    suppression_add(address="ada@faß.i❤.ws", reason="hard_bounce")
    _backwards()
    assert _active() == {
        "ada@fass.xn--i-7iq.ws": "hard_bounce",
        migration.previous_normalise("ada@faß.i❤.ws"): "hard_bounce",
        migration.previous_normalise("ada@fass.i❤.ws"): "hard_bounce",
    }
    _forwards()
    assert _active() == {"ada@fass.xn--i-7iq.ws": "hard_bounce"}


def test_backwards_spells_a_domain_with_each_deviation_it_may_have_had() -> None:
    assert migration.previous_spellings("a@xn--strae-oqa.de") == []  # IDNA 2008
    assert sorted(migration.previous_spellings("a@messe.xn--i-7iq.ws")) == [
        "a@messe.i❤.ws",
        "a@meße.i❤.ws",
    ]


@pytest.fixture
def at_0003(request: pytest.FixtureRequest) -> Iterator[None]:
    with migrated_back(request, "notifications", "0003"):
        yield


@pytest.mark.migrations
@pytest.mark.django_db(transaction=True)
def test_migrate_forwards_backwards_and_forwards_again(at_0003) -> None:
    # The table is the same at 0003 and 0004: 0003's model writes it (today's
    # has 0006's columns).
    old = historical_apps("notifications", "0003_suppression_idna_addresses")
    rows = old.get_model("notifications", "Suppression").objects
    rows.create(address="ada@i❤.ws", reason="unsubscribe")
    rows.create(address="ada@xn--i-7iq.ws", reason="hard_bounce")
    rows.create(address=LONG, reason="manual")
    # Bulk rows too: today's have 0012's columns.
    sends = old.get_model("notifications", "BulkSend").objects
    recipients = old.get_model("notifications", "BulkRecipient").objects
    job = batch_job_create(
        kind=bulk_service.KIND,
        name="newsletter",
        handler=bulk_service.HANDLER,
        row_model=BulkRecipient,
        start=False,
    )
    old_bulk = sends.create(template="newsletter", context=NEWS, job_id=job.pk)
    for email in ("bo@xn--i-7iq.ws", "bo@i❤.ws"):
        recipients.create(bulk_send=old_bulk, job_id=job.pk, email=email)
    bulk = BulkSend.objects.get(pk=old_bulk.pk)

    call_command("migrate", "notifications", "0004", verbosity=0)
    assert _active() == {"ada@xn--i-7iq.ws": "hard_bounce", LONG: "manual"}
    assert bulk_send_counts(bulk) == {"pending": 1, "duplicate": 1}

    call_command("migrate", "notifications", "0003", verbosity=0)
    assert _active() == {
        "ada@xn--i-7iq.ws": "hard_bounce",
        "ada@i❤.ws": "hard_bounce",
        LONG: "manual",
    }

    call_command("migrate", "notifications", "0004", verbosity=0)
    assert _active() == {"ada@xn--i-7iq.ws": "hard_bounce", LONG: "manual"}
