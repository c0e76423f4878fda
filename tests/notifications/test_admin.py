"""The notifications admin: the email log's timeline, resend refused for a
suppressed address, suppressions added through the service and removed
only as staff saw them (list, "select all" and change form)."""

import re
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from notifications import admin as admin_module
from notifications.models import EmailEvent, EmailMessage, Suppression
from notifications.services import (
    email_message_create,
    suppression_add,
    suppression_remove,
)
from notifications.services.suppressions import (
    ProviderOrigin,
    suppression_provider_lift,
)
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db
ORDER = {"order_id": "1001", "amount_display": "€10.50"}
LIST = "/admin/notifications/suppression/"


@pytest.fixture
def staff() -> Client:
    user = User.objects.create_superuser("boss", "boss@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_timeline_shows_the_bounce(staff, email_accounts) -> None:
    message = email_message_create(
        to="ada@example.com", template="order_confirmation", context=ORDER
    )
    EmailEvent.objects.create(message=message, type="bounced", bounce_type="hard")
    page = staff.get(f"/admin/notifications/emailmessage/{message.pk}/change/")
    assert page.status_code == 200
    assert b"bounced (hard)" in page.content


def test_resend_is_refused_for_a_suppressed_address(staff, email_accounts) -> None:
    message = email_message_create(
        to="ada@example.com", template="order_confirmation", context=ORDER
    )
    suppression_add(address="ada@example.com", reason="complaint")
    response = staff.post(
        "/admin/notifications/emailmessage/",
        {"action": "resend", "_selected_action": [message.pk]},
        follow=True,
    )
    assert b"suppressed" in response.content
    assert EmailMessage.objects.count() == 1


def test_staff_add_and_remove_a_suppression(staff) -> None:
    staff.post(
        "/admin/notifications/suppression/add/",
        {"address": "Bob@Example.com", "reason": "manual", "removed_reason": ""},
    )
    item = Suppression.objects.get()
    assert item.address == "bob@example.com"
    assert item.source == "admin:boss"
    staff.post(
        "/admin/notifications/suppression/",
        {"action": "remove", "_selected_action": [item.pk]},
    )
    item.refresh_from_db()
    assert item.removed_at is not None and item.removed_reason


def test_a_suppression_page_shows_where_a_providers_stop_came_from(staff) -> None:
    item = suppression_add(address="dee@example.com", reason="complaint", source="t")
    suppression_add(address="dee@example.com", reason="unsubscribe", source="link")
    Suppression.objects.filter(pk=item.pk).update(stream="outbound")
    page = staff.get(f"/admin/notifications/suppression/{item.pk}/change/")
    text = page.content.decode()
    for label in ("Stream", "Occurred at", "Reactivated at", "Absorbed"):
        assert label in text, label
    assert "outbound" in text and "link" in text  # the absorbed unsubscribe


def test_a_reason_on_the_change_form_removes_a_suppression(staff) -> None:
    item = suppression_add(address="cy@example.com", reason="complaint", source="t")
    url = f"/admin/notifications/suppression/{item.pk}/change/"
    page = staff.get(url).content
    assert "To remove this suppression, say why and save." in page.decode()
    # Saving without a reason, or trying to rewrite the address, changes nothing.
    staff.post(url, {"address": "other@example.com", "removed_reason": ""})
    item.refresh_from_db()
    assert (item.address, item.removed_at) == ("cy@example.com", None)
    # As the drawn form posts it: the version it showed.
    seen = _drawn(page, "seen_version")
    response = staff.post(
        url, {"removed_reason": "customer asked by phone", "seen_version": seen}
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.removed_at is not None
    assert item.removed_reason == "customer asked by phone"
    assert Suppression.objects.filter(removed_at__isnull=True).count() == 0
    # A removed suppression is history: its form has nothing to edit.
    assert 'name="removed_reason"' not in staff.get(url).content.decode()


def _drawn(page: bytes, name: str) -> list[str]:
    """The values of the hidden inputs ``name`` on a page as drawn."""
    text = page.decode()
    return re.findall(rf'type="hidden" name="{name}" value="([^"]*)"', text) + (
        re.findall(rf'name="{name}" type="hidden" value="([^"]*)"', text)
    )


def test_removing_from_the_list_refuses_a_suppression_changed_since(staff) -> None:
    item = suppression_add(address="ada@example.com", reason="manual", source="t")
    page = staff.get("/admin/notifications/suppression/").content
    # A complaint arrives while staff look at the list: the row absorbs it.
    suppression_add(address="ada@example.com", reason="complaint", source="msg_1")
    response = staff.post(
        "/admin/notifications/suppression/",
        {
            "action": "remove",
            "_selected_action": [item.pk],
            "_seen": _drawn(page, "_seen"),
        },
        follow=True,
    )
    item.refresh_from_db()
    assert item.removed_at is None
    assert "changed since the page was drawn" in response.content.decode()


def test_removing_from_the_list_never_lifts_the_row_that_replaced_it(
    staff, monkeypatch
) -> None:
    item = suppression_add(address="ada@example.com", reason="unsubscribe", source="t")
    page = staff.get("/admin/notifications/suppression/").content
    remove = admin_module.suppression_remove

    def complaint_meanwhile(**kwargs):
        # The provider's complaint lands between the action's read and the
        # removal: it replaces the unsubscribe staff selected.
        suppression_add(address="ada@example.com", reason="complaint", source="m")
        return remove(**kwargs)

    monkeypatch.setattr(admin_module, "suppression_remove", complaint_meanwhile)
    response = staff.post(
        "/admin/notifications/suppression/",
        {
            "action": "remove",
            "_selected_action": [item.pk],
            "_seen": _drawn(page, "_seen"),
        },
        follow=True,
    )
    active = Suppression.objects.get(removed_at__isnull=True)
    assert active.reason == "complaint"
    assert "changed since the page was drawn" in response.content.decode()


def test_the_change_form_refuses_removal_of_a_suppression_changed_since(
    staff,
) -> None:
    item = suppression_add(address="cy@example.com", reason="manual", source="t")
    url = f"/admin/notifications/suppression/{item.pk}/change/"
    page = staff.get(url).content
    suppression_add(address="cy@example.com", reason="complaint", source="msg_1")
    response = staff.post(
        url,
        {
            "removed_reason": "customer asked by phone",
            "seen_version": _drawn(page, "seen_version"),
        },
        follow=True,
    )
    item.refresh_from_db()
    assert item.removed_at is None
    assert "changed since the page was drawn" in response.content.decode()


def test_the_change_form_says_so_when_the_row_was_replaced_meanwhile(
    staff,
) -> None:
    item = suppression_add(address="cy@example.com", reason="unsubscribe")
    url = f"/admin/notifications/suppression/{item.pk}/change/"
    page = staff.get(url).content
    suppression_add(address="cy@example.com", reason="complaint", source="msg_1")
    response = staff.post(
        url,
        {
            "removed_reason": "customer asked by phone",
            "seen_version": _drawn(page, "seen_version"),
        },
        follow=True,
    )
    assert "changed since the page was drawn" in response.content.decode()
    assert Suppression.objects.get(removed_at__isnull=True).reason == "complaint"


def test_the_change_form_never_lifts_the_row_that_replaced_it(
    staff, monkeypatch
) -> None:
    item = suppression_add(address="cy@example.com", reason="unsubscribe")
    url = f"/admin/notifications/suppression/{item.pk}/change/"
    page = staff.get(url).content
    remove = admin_module.suppression_remove

    def complaint_meanwhile(**kwargs):
        # The complaint lands after the form was checked, before the removal.
        suppression_add(address="cy@example.com", reason="complaint", source="m")
        return remove(**kwargs)

    monkeypatch.setattr(admin_module, "suppression_remove", complaint_meanwhile)
    response = staff.post(
        url,
        {
            "removed_reason": "customer asked by phone",
            "seen_version": _drawn(page, "seen_version"),
        },
        follow=True,
    )
    text = response.content.decode()
    assert "changed since the page was drawn" in text
    assert "changed successfully" not in text
    assert Suppression.objects.get(removed_at__isnull=True).reason == "complaint"


def test_the_suppression_list_shows_active_entries_unless_asked(staff) -> None:
    account = ProviderAccountFactory(kind="email", provider="postmark")
    active = suppression_add(address="ada@example.com", reason="manual")
    lifted = suppression_add(address="bob@example.com", reason="complaint")
    suppression_remove(address="bob@example.com", reason="asked by phone")
    # A Postmark reactivation with nothing to lift: a closed row, its time.
    suppression_provider_lift(
        address="cy@example.com",
        origin=ProviderOrigin(
            account_id=account.pk, stream="outbound", occurred_at=timezone.now()
        ),
        marketing_only=False,
        reason="reactivated at the provider",
        ours=lambda row: True,
    )
    note = Suppression.objects.get(address="cy@example.com")

    def listed(**query: str) -> set:
        response = staff.get("/admin/notifications/suppression/", query)
        assert response.status_code == 200
        return set(response.context["cl"].queryset)

    assert listed() == {active}
    assert listed(state="removed") == {lifted}
    assert listed(state="notes") == {note}
    assert listed(state="all") == {active, lifted, note}


def test_view_only_staff_cannot_resend_mail(email_accounts) -> None:
    # A support agent allowed to read the email log, nothing more.
    user = User.objects.create_user("reader", "r@example.com", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_emailmessage"))
    client = Client()
    client.force_login(user)
    message = email_message_create(
        to="ada@example.com", template="order_confirmation", context=ORDER
    )
    client.post(
        "/admin/notifications/emailmessage/",
        {"action": "resend", "_selected_action": [message.pk]},
    )
    assert EmailMessage.objects.count() == 1


def test_staff_manual_suppression_over_an_unsubscribe_stops_all_mail(staff) -> None:
    suppression_add(address="ada@example.com", reason="unsubscribe", source="link")
    staff.post(
        "/admin/notifications/suppression/add/",
        {"address": "ada@example.com", "reason": "manual", "removed_reason": ""},
    )
    message = email_message_create(
        to="ada@example.com", template="order_confirmation", context=ORDER
    )
    assert message.status == "suppressed", list(
        Suppression.objects.values_list("reason", "removed_at")
    )


def test_a_double_submitted_resend_mails_the_customer_once(staff, email_accounts):
    message = email_message_create(
        to="ada@example.com", template="order_confirmation", context=ORDER
    )
    form = {"action": "resend", "_selected_action": [message.pk]}

    staff.post("/admin/notifications/emailmessage/", form)
    again = staff.post("/admin/notifications/emailmessage/", form, follow=True)

    copies = EmailMessage.objects.exclude(pk=message.pk)
    assert copies.count() == 1
    assert f"resent as {copies.get().public_id}" in again.content.decode()


def _listed(client: Client, page: str, term: str) -> list:
    response = client.get(f"/admin/notifications/{page}/", {"q": term})
    assert response.status_code == 200
    return list(response.context["cl"].queryset)


@pytest.mark.parametrize(
    "term",
    [
        "user@bücher.de",
        "USER@BÜCHER.DE",
        "bücher.de",
        "bücher",
        "@bücher",
        "user@xn--bcher-kva.de",
        "xn--bcher-kva",
    ],
)
def test_suppression_search_finds_either_spelling_of_the_domain(staff, term) -> None:
    # Stored in the ASCII form providers name it in; staff type what the
    # customer wrote.
    item = suppression_add(address="user@bücher.de", reason="manual")
    assert item.address == "user@xn--bcher-kva.de"
    suppression_add(address="user@example.de", reason="manual")
    assert _listed(staff, "suppression", term) == [item]


@pytest.mark.parametrize(
    ("stored", "term"),
    [
        # The log keeps the address as it was given: either spelling.
        ("anna@münchen.de", "xn--mnchen-3ya.de"),
        ("anna@münchen.de", "anna@xn--mnchen-3ya.de"),
        ("anna@xn--mnchen-3ya.de", "münchen"),
        ("anna@xn--mnchen-3ya.de", "anna@München.de"),
        # An emoji domain (IDNA 2003 only) is searched in its xn-- form too.
        ("anna@xn--i-7iq.ws", "anna@i❤.ws"),
        ("anna@xn--i-7iq.ws", "i❤"),
        ("anna@i❤.ws", "anna@xn--i-7iq.ws"),
    ],
)
def test_email_log_search_finds_either_spelling_of_the_domain(
    staff, email_accounts, stored, term
) -> None:
    message = email_message_create(
        to=stored, template="order_confirmation", context=ORDER
    )
    email_message_create(
        to="anna@example.de", template="order_confirmation", context=ORDER
    )
    assert _listed(staff, "emailmessage", term) == [message]


@pytest.mark.parametrize("term", ["a@faß.i❤.ws", "faß.i❤.ws", "a@fass.i❤.ws"])
def test_admin_search_finds_a_domain_idna_2003_encodes_as_a_whole(staff, term) -> None:
    # IDNA 2008 refuses the emoji label, so the whole domain is IDNA 2003,
    # which maps ß to ss: stored as fass.xn--i-7iq.ws, while faß alone (IDNA
    # 2008) is xn--fa-hia.
    item = suppression_add(address="a@faß.i❤.ws", reason="manual")
    assert item.address == "a@fass.xn--i-7iq.ws"
    suppression_add(address="a@example.de", reason="manual")
    assert _listed(staff, "suppression", term) == [item]


def test_the_change_form_refuses_a_removal_that_names_no_version(staff) -> None:
    # Every drawn form carries seen_version; without it the version check
    # was skipped and whatever the row had become was removed.
    item = suppression_add(address="ed@example.com", reason="unsubscribe")
    url = f"/admin/notifications/suppression/{item.pk}/change/"
    response = staff.post(url, {"removed_reason": "customer asked"})
    assert response.status_code == 200
    assert "reload the page" in response.content.decode()
    item.refresh_from_db()
    assert item.removed_at is None


def test_a_refused_removal_is_not_logged_as_a_change(staff, monkeypatch) -> None:
    from django.contrib.admin.models import LogEntry

    item = suppression_add(address="gi@example.com", reason="unsubscribe")
    url = f"{LIST}{item.pk}/change/"
    page = staff.get(url).content
    remove = admin_module.suppression_remove

    def complaint_meanwhile(**kwargs):
        suppression_add(address="gi@example.com", reason="complaint", source="m")
        return remove(**kwargs)

    monkeypatch.setattr(admin_module, "suppression_remove", complaint_meanwhile)
    seen = _drawn(page, "seen_version")
    response = staff.post(
        url, {"removed_reason": "customer asked", "seen_version": seen}, follow=True
    )
    assert "changed since the page was drawn" in response.content.decode()
    # Nothing was removed: the admin history must not say staff changed it.
    assert not LogEntry.objects.filter(object_id=str(item.pk)).exists()


def _remove_all(staff: Client, page: bytes, pk: int, **extra: str) -> None:
    """The list's "remove" action as the drawn page posts it."""
    post = {
        "action": "remove",
        "index": "0",
        "_selected_action": [pk],
        "_seen": _drawn(page, "_seen"),
        "drawn_at": _drawn(page, "drawn_at"),
        "drawn_snapshot": _drawn(page, "drawn_snapshot"),
        **extra,
    }
    staff.post(LIST, post, follow=True)


def test_select_all_never_lifts_the_complaint_that_replaced_a_drawn_row(
    staff,
) -> None:
    item = suppression_add(address="ada@example.com", reason="unsubscribe", source="t")
    page = staff.get(LIST).content
    # A complaint replaces the unsubscribe staff are looking at.
    suppression_add(address="ada@example.com", reason="complaint", source="msg_1")
    _remove_all(staff, page, item.pk, select_across="1")
    active = Suppression.objects.get(address="ada@example.com", removed_at=None)
    assert active.reason == "complaint"


def test_second_staff_select_all_never_lifts_what_the_first_removal_restored(
    staff,
) -> None:
    # A complaint absorbed under staff's manual stop: removing the stop
    # restores the complaint as a new row; a colleague's "select all" from
    # the same page, drawn before, must not lift that complaint.
    suppression_add(address="bo@example.com", reason="manual", source="admin:a")
    suppression_add(address="bo@example.com", reason="complaint", source="msg_2")
    item = Suppression.objects.get(address="bo@example.com", removed_at=None)
    page = staff.get(LIST).content
    _remove_all(staff, page, item.pk)
    restored = Suppression.objects.get(address="bo@example.com", removed_at=None)
    assert restored.reason == "complaint"
    _remove_all(staff, page, item.pk, select_across="1")
    restored.refresh_from_db()
    assert restored.removed_at is None


# Committed rows, as in use: the page and the action are separate requests,
# and a row is judged by whether it had committed when the page was drawn.
@pytest.mark.django_db(transaction=True)
def test_select_all_never_lifts_a_row_added_after_the_page_was_drawn(staff) -> None:
    item = suppression_add(address="fa@example.com", reason="manual", source="t")
    page = staff.get(LIST).content
    later = suppression_add(address="new@example.com", reason="complaint")
    _remove_all(staff, page, item.pk, select_across="1")
    item.refresh_from_db()
    later.refresh_from_db()
    assert item.removed_at is not None
    assert later.removed_at is None


def _clock(seconds: float) -> SimpleNamespace:
    """``django.utils.timezone`` for a process whose clock is ``seconds`` off."""
    names = {n: getattr(timezone, n) for n in dir(timezone) if not n.startswith("_")}
    names["now"] = lambda: (
        timezone.localtime(timezone.now()) + timedelta(seconds=seconds)
    )
    return SimpleNamespace(**names)


# Committed rows, as in use: the page and the action are separate requests,
# and a row is judged by whether it had committed when the page was drawn.
@pytest.mark.django_db(transaction=True)
def test_select_all_judges_a_row_added_after_drawing_by_the_database_clock(
    staff, monkeypatch
) -> None:
    # The web process drawing the page runs 30 s ahead of the worker storing
    # a complaint: by those clocks the complaint looked older than the page.
    monkeypatch.setattr(admin_module, "timezone", _clock(30), raising=False)
    item = suppression_add(address="ga@example.com", reason="manual", source="t")
    page = staff.get(LIST).content
    later = suppression_add(address="late@example.com", reason="complaint")
    _remove_all(staff, page, item.pk, select_across="1")
    item.refresh_from_db()
    later.refresh_from_db()
    assert item.removed_at is not None
    assert later.removed_at is None


# Committed rows, as in use: the page and the action are separate requests,
# and a row is judged by whether it had committed when the page was drawn.
@pytest.mark.django_db(transaction=True)
def test_select_all_removes_the_rows_of_other_pages_as_they_are(staff) -> None:
    rows = [
        suppression_add(address=f"p{n}@example.com", reason="manual") for n in range(3)
    ]
    page = staff.get(LIST).content
    # Only the first row drawn: the others stand for rows of other pages.
    first = f"{rows[0].pk}:{rows[0].version}"
    _remove_all(staff, page, rows[0].pk, select_across="1", _seen=first)
    assert not Suppression.objects.filter(removed_at=None).exists()


def test_the_default_list_total_counts_what_show_all_shows(staff) -> None:
    suppression_add(address="cy@example.com", reason="manual", source="t")
    for n in range(3):
        old = suppression_add(address=f"old{n}@example.com", reason="manual")
        suppression_remove(address=old.address, reason="test")
    # The 'total' link ("?") shows the default list: active rows only.
    assert "4 total" not in staff.get(LIST).content.decode()
    found = staff.get(LIST + "?state=all&q=old").content.decode()
    assert "3 results" in found and "1 total" in found


def test_removing_an_already_removed_row_is_not_called_changed(staff) -> None:
    item = suppression_add(address="di@example.com", reason="manual", source="t")
    suppression_remove(address=item.address, reason="earlier")
    page = staff.get(LIST + "?state=all").content
    response = staff.post(
        LIST + "?state=all",
        {
            "action": "remove",
            "index": "0",
            "_selected_action": [item.pk],
            "_seen": _drawn(page, "_seen"),
        },
        follow=True,
    )
    text = response.content.decode()
    assert "changed since the page was drawn" not in text
    assert "already removed" in text


def test_a_malformed_seen_value_is_ignored_not_a_server_error(staff) -> None:
    # "²".isdigit() is true and int("²") raises: such a pair is skipped.
    item = suppression_add(address="ada@example.com", reason="manual", source="t")
    response = staff.post(
        "/admin/notifications/suppression/",
        {"action": "remove", "_selected_action": [item.pk], "_seen": [f"{item.pk}:²"]},
        follow=True,
    )
    assert response.status_code == 200


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite writes one at a time"
)
@pytest.mark.django_db(transaction=True)
def test_select_all_never_lifts_a_complaint_committed_after_the_page_was_drawn(
    staff,
) -> None:
    # Its INSERT (created_at) came before the page; its COMMIT after: it was
    # not on the page. Stored in a savepoint of the webhook's transaction, and
    # a later transaction committed before the page was drawn.
    drawn_row = suppression_add(address="seen@example.com", reason="manual")
    stored, go_on, done = threading.Event(), threading.Event(), threading.Event()

    def worker() -> None:  # a webhook storing a complaint in its transaction
        try:
            with transaction.atomic():
                suppression_add(address="complainer@example.com", reason="complaint")
                stored.set()
                go_on.wait(10)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    assert stored.wait(10)
    suppression_add(address="later@example.com", reason="manual")
    page = staff.get(LIST).content  # the complaint is not committed: not shown
    assert b"complainer@example.com" not in page
    go_on.set()
    assert done.wait(10)
    thread.join()
    _remove_all(staff, page, drawn_row.pk, select_across="1")
    complaint = Suppression.objects.get(address="complainer@example.com")
    assert complaint.removed_at is None, "a complaint staff never saw was lifted"
    assert Suppression.objects.get(address="later@example.com").removed_at


def test_the_lists_drawn_mark_is_taken_before_its_results(staff, monkeypatch) -> None:
    # Django reads the results before it renders the action form: a mark
    # read there would postdate rows the page never showed. A complaint
    # committed while the mark is taken must be on the page.
    real_now = admin_module.database_now

    def complaint_then_now():
        suppression_add(address="complainer@example.com", reason="complaint")
        return real_now()

    monkeypatch.setattr(admin_module, "database_now", complaint_then_now)
    page = staff.get(LIST).content
    assert b"complainer@example.com" in page
    assert _drawn(page, "drawn_at")
