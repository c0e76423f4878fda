"""Suppressions by precedence: a hard bounce, a complaint or staff's stop
outranks an unsubscribe (marketing only) and replaces it, keeping the old
row as history; a weaker or equal reason leaves the active entry alone, also
when two events for one address arrive at once."""

import importlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.utils import timezone

from integrations.schedules import collect_jobs
from notifications import tasks
from notifications.models import EmailStatus, Suppression, normalise_address
from notifications.providers.base import BounceType, EmailEventRecord, EmailEventType
from notifications.services import email_message_create, suppressions
from notifications.services.address_rekey import addresses_rekey
from notifications.services.events import email_event_apply
from notifications.services.suppressions import (
    ProviderOrigin,
    SuppressionReason,
    suppression_active,
    suppression_add,
    suppression_blocks,
    suppression_provider_lift,
    suppression_provider_stop,
    suppression_remove,
)
from notifications.webhooks import email_webhook_handle
from tests.factories import ProviderAccountFactory, WebhookEventFactory
from tests.notifications.contract.harness_sendgrid import event as sendgrid_event
from tests.pg import join_until_it_waits_for_a_lock

pytestmark = pytest.mark.django_db
ORDER = {"order_id": "1001", "amount_display": "€10.50"}


def _sent(capture):
    with capture(execute=True):
        message = email_message_create(
            to="ada@example.com", template="order_confirmation", context=ORDER
        )
    message.refresh_from_db()
    assert message.status == EmailStatus.SENT
    return message


def _apply(message, kind, bounce=None) -> None:
    email_event_apply(
        message=message,
        record=EmailEventRecord(
            type=kind,
            bounce_type=bounce,
            occurred_at=datetime.now(UTC),
            recipient="ada@example.com",
            provider_message_id=message.provider_message_id,
        ),
    )


def _next_confirmation():
    return email_message_create(
        to="ada@example.com", template="order_confirmation", context=ORDER
    )


def test_hard_bounce_after_an_unsubscribe_stops_transactional_mail(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    # The customer unsubscribed from marketing long ago (one-click link).
    suppression_add(address="ada@example.com", reason="unsubscribe", source="link")
    message = _sent(django_capture_on_commit_callbacks)
    _apply(message, EmailEventType.BOUNCED, BounceType.HARD)
    message.refresh_from_db()
    assert message.status == EmailStatus.BOUNCED
    assert _next_confirmation().status == EmailStatus.SUPPRESSED
    # The unsubscribe is kept as history, closed; one active entry.
    rows = Suppression.objects.order_by("pk")
    assert [(r.reason, r.removed_at is None) for r in rows] == [
        ("unsubscribe", False),
        ("hard_bounce", True),
    ]
    assert "hard_bounce" in rows[0].removed_reason


def test_complaint_after_an_unsubscribe_stops_transactional_mail(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    suppression_add(address="ada@example.com", reason="unsubscribe", source="link")
    message = _sent(django_capture_on_commit_callbacks)
    _apply(message, EmailEventType.COMPLAINED)
    assert _next_confirmation().status == EmailStatus.SUPPRESSED


def test_a_weaker_or_equal_reason_keeps_the_active_entry() -> None:
    first = suppression_add(address="ada@example.com", reason="hard_bounce")
    assert suppression_add(address="ADA@example.com", reason="unsubscribe") == first
    assert suppression_add(address="ada@example.com", reason="complaint") == first
    assert Suppression.objects.count() == 1


def _race(*reasons: str) -> list[BaseException]:
    """``suppression_add`` for each reason at once, one thread (and one
    connection, one transaction) each; the errors raised."""
    barrier = threading.Barrier(len(reasons))
    errors: list[BaseException] = []

    def add(reason: str) -> None:
        try:
            barrier.wait()
            suppression_add(address="ada@example.com", reason=reason)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(r,)) for r in reasons]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "reasons",
    [("unsubscribe", "hard_bounce"), ("hard_bounce", "unsubscribe", "complaint")],
)
def test_concurrent_adds_leave_the_strongest_reason_active(reasons) -> None:
    # Webhooks for one address at once: in whatever order they commit, the
    # stronger reason ends up the one active entry.
    for _ in range(5):
        Suppression.objects.all().delete()
        assert _race(*reasons) == []
        active = Suppression.objects.filter(removed_at__isnull=True)
        assert [row.reason for row in active] in (["hard_bounce"], ["complaint"])
        assert suppression_blocks("ada@example.com", "transactional") is not None


def test_migration_rewrites_unicode_domains_and_merges_both_spellings() -> None:
    migration = importlib.import_module(
        "notifications.migrations.0003_suppression_idna_addresses"
    )
    # Stored before addresses were normalised to IDNA: both spellings.
    unsubscribed = Suppression.objects.create(
        address="ada@bücher.de", reason="unsubscribe"
    )
    bounced = Suppression.objects.create(
        address="ada@xn--bcher-kva.de", reason="hard_bounce"
    )
    complained = Suppression.objects.create(address="cy@bücher.de", reason="complaint")
    plain = Suppression.objects.create(address="dee@example.com", reason="manual")
    migration.forwards(django_apps, None)
    for row in (unsubscribed, bounced, complained, plain):
        row.refresh_from_db()
    assert unsubscribed.address == "ada@xn--bcher-kva.de"
    assert unsubscribed.removed_at is not None
    assert bounced.removed_at is None
    assert complained.address == "cy@xn--bcher-kva.de"
    assert complained.removed_at is None
    assert plain.address == "dee@example.com"
    assert suppression_blocks("ADA@Bücher.de", "transactional") == bounced
    assert suppression_blocks("cy@bücher.de", "transactional") == complained


def test_migration_keeps_an_address_too_long_once_encoded_as_it_was() -> None:
    migration = importlib.import_module(
        "notifications.migrations.0003_suppression_idna_addresses"
    )
    # 183 characters as stored, 281 once its domain is in ASCII form.
    domain = ".".join(f"bücher{i}" for i in range(14)) + ".de"
    long_one = Suppression.objects.create(
        address=f"{'a' * 64}@{domain}", reason="manual"
    )
    migration.forwards(django_apps, None)  # was a DataError on PostgreSQL
    long_one.refresh_from_db()
    assert long_one.address == f"{'a' * 64}@{domain}"
    assert long_one.removed_at is None


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        (" Ada@Example.COM ", "ada@example.com"),
        ("ada@bücher.de", "ada@xn--bcher-kva.de"),
        ("ADA@BÜCHER.DE", "ada@xn--bcher-kva.de"),
        ("ada@XN--BCHER-KVA.DE", "ada@xn--bcher-kva.de"),
        # IDNA 2008 refuses symbols; IDNA 2003, under which emoji domains
        # were registered (and which providers name them in), takes them.
        ("ada@i❤.ws", "ada@xn--i-7iq.ws"),
        ("ada@☃.net", "ada@xn--n3h.net"),
        # Neither takes it (an empty label): kept as it is.
        ("ada@bü..de", "ada@bü..de"),
    ],
)
def test_one_form_of_each_address(given, normalised) -> None:
    assert normalise_address(given) == normalised


def test_lifting_a_bounce_keeps_the_customers_unsubscribe() -> None:
    suppression_add(address="ada@example.com", reason="unsubscribe", source="link")
    suppression_add(address="ada@example.com", reason="hard_bounce", source="em_1")

    suppression_remove(address="ada@example.com", reason="mailbox fixed")

    kept = suppression_blocks("ada@example.com", "marketing")
    assert kept is not None and (kept.reason, kept.source) == ("unsubscribe", "link")
    assert suppression_blocks("ada@example.com", "transactional") is None
    # Lifting the unsubscribe itself (the customer resubscribed) ends it.
    suppression_remove(address="ada@example.com", reason="resubscribed")
    assert suppression_active("ada@example.com") is None


def test_lifting_a_bounce_through_the_admin_keeps_the_unsubscribe(admin_client):
    suppression_add(address="ada@example.com", reason="unsubscribe", source="link")
    bounce = suppression_add(address="ada@example.com", reason="hard_bounce")

    admin_client.post(
        "/admin/notifications/suppression/",
        {"action": "remove", "_selected_action": [bounce.pk]},
    )

    bounce.refresh_from_db()
    assert bounce.removed_at is not None
    assert suppression_blocks("ada@example.com", "marketing") is not None


def test_the_idna_migration_backwards_keeps_both_spellings_stopped() -> None:
    migration = importlib.import_module(
        "notifications.migrations.0003_suppression_idna_addresses"
    )
    Suppression.objects.create(address="ada@bücher.de", reason="complaint")
    migration.forwards(django_apps, None)

    (operation,) = migration.Migration.operations
    operation.reverse_code(django_apps, None)  # migrate notifications 0002

    # The previous release compares addresses as spelt, lower-cased.
    active = Suppression.objects.filter(removed_at__isnull=True)
    assert set(active.values_list("address", flat=True)) == {
        "ada@bücher.de",
        "ada@xn--bcher-kva.de",
    }
    migration.forwards(django_apps, None)  # and forwards again: one entry
    assert active.count() == 1


def test_an_address_too_long_once_its_domain_is_encoded_is_refused_and_fits() -> None:
    # 204 characters as the shop spells it, 267 with its domain in ASCII form:
    # more than any column (or provider) takes.
    from notifications.models import ascii_address
    from notifications.services import EmailInvalid, email_message_create

    labels = (
        "".join(chr(0x4E00 + k * 97 + i * 13) for i in range(16)) for k in range(3)
    )
    address = "a" * 150 + "@" + ".".join(labels) + ".jp"
    assert len(address) < 254 < len(ascii_address(address))
    assert len(normalise_address(address)) <= 254

    with pytest.raises(EmailInvalid) as caught:
        email_message_create(
            to=address,
            template="order_confirmation",
            context={"order_id": "1", "amount_display": "€1"},
        )
    stored = suppression_add(address=address, reason="hard_bounce")

    assert caught.value.code == "invalid_email"
    assert len(stored.address) <= 254


def test_a_provider_event_for_an_emoji_domain_stops_mail_to_its_unicode_spelling(
    email_accounts,
) -> None:
    # The provider names the domain in its xn-- form (IDNA 2003: 2008 refuses
    # symbols); the shop spells the customer's address as they typed it.
    payload = sendgrid_event("spamreport", email="a@xn--i-7iq.ws")
    account = ProviderAccountFactory(kind="email", provider="sendgrid")
    email_webhook_handle(
        WebhookEventFactory(account=account, event_type="spamreport", payload=payload)
    )

    message = email_message_create(
        to="a@i❤.ws", template="order_confirmation", context=ORDER
    )

    assert message.status == EmailStatus.SUPPRESSED
    assert suppression_blocks("A@I❤.ws", "transactional") is not None


def test_lifting_a_bounce_keeps_an_unsubscribe_made_after_it() -> None:
    # The opt-out came while the bounce was active: recorded on it, it is
    # the customer's all the same.
    bounce = suppression_add(address="ada@example.com", reason="hard_bounce")
    assert (
        suppression_add(address="ada@example.com", reason="unsubscribe", source="link")
        == bounce
    )

    suppression_remove(address="ada@example.com", reason="mailbox fixed")

    kept = suppression_blocks("ada@example.com", "marketing")
    assert kept is not None and (kept.reason, kept.source) == ("unsubscribe", "link")
    assert suppression_blocks("ada@example.com", "transactional") is None


def test_lifting_an_unsubscribe_ends_the_opt_outs_it_absorbed() -> None:
    # A resubscribe is the customer's latest word, however often they opted out.
    suppression_add(address="ada@example.com", reason="unsubscribe", source="link")
    suppression_add(address="ada@example.com", reason="unsubscribe", source="api")
    suppression_remove(address="ada@example.com", reason="resubscribed")
    assert suppression_active("ada@example.com") is None


# Provider stops, staff's entries and the rewrites of one address's rows.
T10 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
T11 = datetime(2026, 12, 5, 11, 0, tzinfo=UTC)
BOB = "bob@example.com"


def _postmark_stop(account, at) -> None:
    suppression_provider_stop(
        address=BOB,
        reason=SuppressionReason.UNSUBSCRIBE_ALL,
        source=f"webhook:{account.slug}:1",
        origin=ProviderOrigin(account_id=account.pk, stream="outbound", occurred_at=at),
    )


def _postmark_reactivation(account, at) -> None:
    suppression_provider_lift(
        address=BOB,
        origin=ProviderOrigin(account_id=account.pk, stream="outbound", occurred_at=at),
        marketing_only=False,
        reason="reactivated at the provider",
        ours=lambda s: s.account_id == account.pk,
    )


@pytest.mark.django_db(transaction=True)
def test_a_stop_racing_its_later_reactivation_ends_lifted(monkeypatch) -> None:
    # Two webhook workers: the 10:00 stop has looked for a reactivation (none)
    # and not inserted yet when the 11:00 reactivation of that stream runs.
    # The reactivation is the provider's last word: nothing may stay active.
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's write transactions run one at a time")
    account = ProviderAccountFactory(kind="email", provider="postmark")
    checked, go_on = threading.Event(), threading.Event()
    real = suppressions._reactivated_since

    def slow(address, origin):
        result = real(address, origin)
        checked.set()
        go_on.wait(10)
        return result

    monkeypatch.setattr(suppressions, "_reactivated_since", slow)

    def in_thread(work):
        def run():
            try:
                work()
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    stopper = in_thread(lambda: _postmark_stop(account, T10))
    try:
        assert checked.wait(10)
        monkeypatch.setattr(suppressions, "_reactivated_since", real)
        lifter = in_thread(lambda: _postmark_reactivation(account, T11))
        # Blocked behind the stop's transaction, once fixed.
        join_until_it_waits_for_a_lock(lifter, 2)
    finally:
        go_on.set()
    stopper.join(10)
    lifter.join(10)

    assert suppression_blocks(BOB, "transactional") is None


def test_staffs_stop_merged_into_a_postmark_stop_outlives_its_reactivation() -> None:
    # The Postmark stop was stored under another spelling by the release
    # before; staff's stop of the address is merged into it by the rekey.
    account = ProviderAccountFactory(kind="email", provider="postmark")
    _postmark_stop(account, T10)
    Suppression.objects.filter(address=BOB).update(address="bob@EXAMPLE.com")
    staff = suppression_add(
        address=BOB, reason=SuppressionReason.MANUAL, source="admin:alice"
    )
    assert staff.address == BOB
    assert addresses_rekey().merged == 1

    _postmark_reactivation(account, T11)

    kept = suppression_blocks(BOB, "transactional")
    assert kept is not None and (kept.reason, kept.source) == ("manual", "admin:alice")


def test_staffs_stop_absorbed_by_a_postmark_stop_outlives_its_reactivation() -> None:
    account = ProviderAccountFactory(kind="email", provider="postmark")
    _postmark_stop(account, T10)
    suppression_add(address=BOB, reason=SuppressionReason.MANUAL, source="admin:alice")

    _postmark_reactivation(account, T11)

    assert suppression_blocks(BOB, "transactional") is not None


def test_staff_removing_their_stop_keeps_a_complaint_it_absorbed() -> None:
    # The customer marked our mail as spam while staff's stop was active:
    # the customer's word, which staff's removal of their own entry keeps.
    account = ProviderAccountFactory(kind="email", provider="sendgrid")
    suppression_add(address=BOB, reason=SuppressionReason.MANUAL, source="admin:alice")
    suppression_provider_stop(
        address=BOB,
        reason=SuppressionReason.COMPLAINT,
        source="webhook:sg:1",
        origin=ProviderOrigin(account_id=account.pk, stream="", occurred_at=T10),
    )

    suppression_remove(address=BOB, reason="added by mistake")

    kept = suppression_blocks(BOB, "marketing")
    assert kept is not None and kept.reason == SuppressionReason.COMPLAINT


def test_staff_removing_their_stop_drops_their_own_repeats() -> None:
    suppression_add(address=BOB, reason=SuppressionReason.MANUAL, source="admin:alice")
    suppression_add(address=BOB, reason=SuppressionReason.MANUAL, source="admin:alice")

    suppression_remove(address=BOB, reason="added by mistake")

    assert suppression_active(BOB) is None


def _aged(row: Suppression, days: int) -> None:
    # Stored ``days`` ago (a note's created_at and removed_at are one time).
    at = timezone.now() - timedelta(days=days)
    fields = {"created_at": at}
    if row.removed_at == row.created_at:
        fields["removed_at"] = at
    Suppression.objects.filter(pk=row.pk).update(**fields)


def test_reactivation_notes_are_purged_once_no_stale_stop_can_arrive() -> None:
    # A reactivation with nothing to lift keeps a closed row (its time) for
    # a stop of that list older than it that Postmark still retries; past
    # the retry horizon and its margin the row can no longer matter.
    account = ProviderAccountFactory(kind="email", provider="postmark")
    _postmark_reactivation(account, T10)
    (old_note,) = Suppression.objects.all()
    _aged(old_note, suppressions.REACTIVATION_NOTE_DAYS + 1)
    _postmark_reactivation(account, T11)
    recent_note = Suppression.objects.exclude(pk=old_note.pk).get()
    _aged(recent_note, suppressions.REACTIVATION_NOTE_DAYS - 1)
    # History is kept however old: a lifted stop and what it replaced.
    lifted = suppression_add(address="ann@example.com", reason="unsubscribe")
    suppression_add(address="ann@example.com", reason="complaint")
    suppression_remove(address="ann@example.com", reason="asked by phone")
    for row in Suppression.objects.filter(address="ann@example.com"):
        _aged(row, 400)

    assert tasks.purge_reactivation_notes() == 1

    assert not Suppression.objects.filter(pk=old_note.pk).exists()
    assert Suppression.objects.filter(pk=recent_note.pk).exists()
    assert Suppression.objects.filter(address="ann@example.com").count() == 3
    assert Suppression.objects.filter(pk=lifted.pk).exists()
    # The kept note still refuses the stale stop it is there for.
    _postmark_stop(account, T10)
    assert suppression_blocks(BOB, "transactional") is None


def test_the_purge_of_reactivation_notes_is_a_scheduled_job() -> None:
    jobs = {job.func: job for job in collect_jobs()}
    job = jobs["notifications.tasks.purge_reactivation_notes"]
    assert job.minutes == 24 * 60
