"""The payments admin through the test client: list, payment page, actions
and the refund form."""

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from payments.models import (
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    SandboxCharge,
)
from tests.factories import ProviderAccountFactory, WebhookEventFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:payments_payment_changelist")


def change_url(payment: Payment) -> str:
    return reverse("admin:payments_payment_change", args=[payment.pk])


def refund_url(payment: Payment) -> str:
    return reverse("admin:payments_payment_refund", args=[payment.pk])


def listed(response) -> set[str]:
    return set(re.findall(r"pay_[0-9a-z]{24}", response.content.decode()))


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def log_messages(payment: Payment) -> list[str]:
    return list(
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Payment),
            object_id=str(payment.pk),
        ).values_list("change_message", flat=True)
    )


def refund_form(client, payment: Payment) -> dict[str, str]:
    """The refund form's initial values, as a browser would post them back."""
    form = client.get(refund_url(payment)).context["form"]
    return {name: str(form[name].value() or "") for name in form.fields}


# --- the list -----------------------------------------------------------------


def test_list_shows_amounts_in_their_currency_format(staff_client, make_payment):
    make_payment(amount=123_456, currency="EUR")
    make_payment(amount=1_050, currency="JPY")
    make_payment(amount=1_005, currency="KWD")
    content = staff_client.get(CHANGELIST).content.decode()
    assert "€1,234.56" in content
    assert "¥1,050" in content
    assert "1.005 KWD" in content


def test_list_filters(staff_client, make_payment, secondary):
    captured = make_payment(currency="EUR")
    authorized = make_payment(capture=False, currency="USD")
    failed = make_payment(token="tok_decline", currency="USD")
    assert (captured.status, authorized.status, failed.status) == (
        "captured",
        "authorized",
        "failed",
    )
    other = ProviderAccountFactory(slug="other", provider="sandbox")
    Payment.objects.filter(pk=failed.pk).update(account=other, risk_level="medium")
    other.__class__.objects.filter(pk=other.pk).update(provider="stripe")

    def ids(**params: str) -> set[str]:
        return listed(staff_client.get(CHANGELIST, params))

    assert ids(status__exact="captured") == {captured.public_id}
    assert ids(currency__exact="USD") == {authorized.public_id, failed.public_id}
    assert ids(account__provider="stripe") == {failed.public_id}
    assert ids(account__provider="sandbox") == {
        captured.public_id,
        authorized.public_id,
    }
    assert ids(risk_level__exact="medium") == {failed.public_id}
    Payment.objects.filter(pk=captured.pk).update(created_at="2020-01-01T00:00:00Z")
    assert ids(created_at__year="2020") == {captured.public_id}


def test_list_search_by_order_reference_and_email(staff_client, make_payment):
    one = make_payment(order_id="ORD-777", customer_email="ada@example.com")
    two = make_payment(order_id="ORD-888", customer_email="grace@example.org")

    def ids(q: str) -> set[str]:
        return listed(staff_client.get(CHANGELIST, {"q": q}))

    assert ids("ORD-777") == {one.public_id}
    assert ids(two.provider_reference) == {two.public_id}
    assert ids("grace@example") == {two.public_id}
    assert ids(one.public_id) == {one.public_id}


def test_a_pasted_public_id_is_looked_up_by_its_index(staff_client, make_payment):
    # Django's own search is UPPER(public_id) = UPPER(term) OR ... LIKE: a scan
    # of every payment, whatever the indexes.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    one, _two = make_payment(), make_payment()

    with CaptureQueriesContext(connection) as queries:
        found = listed(
            staff_client.get(CHANGELIST, {"q": f" {one.public_id.upper()} "})
        )

    assert found == {one.public_id}
    searches = [
        q["sql"] for q in queries.captured_queries if "payments_payment" in q["sql"]
    ]
    assert searches, "the changelist read no payments"
    for sql in searches:
        assert "LIKE" not in sql and 'UPPER("payments_payment"."public_id"' not in sql


def test_an_id_shaped_term_no_payment_has_is_searched_as_before(
    staff_client, make_payment
):
    order = "ord_" + "7" * 24  # shaped like a public id, but an order reference
    payment = make_payment(order_id=f"shop-{order}")
    make_payment()

    assert listed(staff_client.get(CHANGELIST, {"q": order})) == {payment.public_id}


def test_a_refund_is_found_by_its_payments_id(staff_client, make_payment):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from payments.services import payment_refund

    payment = make_payment()
    refund = payment_refund(payment=payment, amount=100, requested_by="staff")
    with CaptureQueriesContext(connection) as queries:
        listing = staff_client.get(
            reverse("admin:payments_refund_changelist"), {"q": payment.public_id}
        )

    assert refund.public_id in listing.content.decode()
    searches = [
        q["sql"] for q in queries.captured_queries if "payments_refund" in q["sql"]
    ]
    assert searches and not any("LIKE" in sql for sql in searches)


def test_payments_cannot_be_edited_or_added(staff_client, make_payment):
    payment = make_payment()
    assert staff_client.get(reverse("admin:payments_payment_add")).status_code == 403
    page = staff_client.get(change_url(payment)).content.decode()
    assert 'name="_save"' not in page
    staff_client.post(change_url(payment), {"amount": "1", "status": "pending"})
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED


# --- the payment page -----------------------------------------------------------


def test_payment_page_has_a_timeline(staff_client, make_payment, primary):
    payment = make_payment()
    mentions = WebhookEventFactory(
        account=primary,
        event_type="payment.succeeded",
        payload={
            "type": "payment.succeeded",
            "data": {"reference": payment.provider_reference},
        },
    )
    WebhookEventFactory(account=primary, event_type="payment.failed")  # another one
    response = staff_client.get(change_url(payment))
    assert response.status_code == 200
    kinds = [entry.kind for entry in response.context["timeline"]]
    assert kinds == ["created", "attempt", "event", "webhook"]
    titles = [entry.title for entry in response.context["timeline"]]
    assert titles[1].startswith("authorize at ") and titles[1].endswith("Succeeded")
    assert titles[2] == "Event payment.captured"
    assert titles[3] == "Webhook payment.succeeded: Received"
    content = response.content.decode()
    assert 'id="payment-timeline"' in content
    assert (
        reverse("admin:integrations_webhookevent_change", args=[mentions.pk]) in content
    )
    assert "€100.00" in content  # the money fields, formatted
    assert 'id="refund-link"' in content


def test_payment_page_buttons_follow_state_and_permissions(
    staff_client, viewer_client, make_payment
):
    authorized = make_payment(capture=False)
    page = staff_client.get(change_url(authorized)).content.decode()
    assert 'id="capture-button"' in page and 'id="void-button"' in page
    assert 'id="refund-link"' not in page  # nothing captured yet
    viewer_page = viewer_client.get(change_url(authorized)).content.decode()
    assert 'id="capture-button"' not in viewer_page
    assert 'id="reconcile-button"' not in viewer_page


# --- capture, void, reconcile ------------------------------------------------------


def action(client, name: str, *payments: Payment):
    return client.post(
        CHANGELIST,
        {"action": name, "_selected_action": [p.pk for p in payments]},
        follow=True,
    )


def test_capture_action(staff_client, make_payment):
    payment = make_payment(capture=False)
    response = action(staff_client, "capture", payment)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED
    assert payment.amount_captured == 10_000
    assert f"{payment.public_id}: Captured €100.00." in messages_of(response)
    assert log_messages(payment) == ["Captured €100.00."]


def test_void_button_on_the_payment_page(staff_client, make_payment):
    payment = make_payment(capture=False)
    url = reverse("admin:payments_payment_void", args=[payment.pk])
    assert staff_client.get(url).status_code == 405
    response = staff_client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == change_url(payment)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.VOIDED
    assert log_messages(payment) == ["Voided."]


def _answer_lost(monkeypatch, operation: str) -> None:
    from integrations.errors import Unknown
    from payments.providers.sandbox import SandboxPaymentsAdapter

    def lost(self, *args, **kwargs):
        raise Unknown("sandbox read timed out (test)", code="read_timeout")

    monkeypatch.setattr(SandboxPaymentsAdapter, operation, lost)


UNKNOWN_TEXT = "the gateway's answer was lost: outcome unknown, being reconciled."


def test_staff_void_left_unknown_is_not_reported_and_audited_as_voided(
    staff_client, make_payment, monkeypatch
):
    payment = make_payment(capture=False)
    _answer_lost(monkeypatch, "void")
    url = reverse("admin:payments_payment_void", args=[payment.pk])
    response = staff_client.post(url, follow=True)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.UNKNOWN
    said = f"Void sent; {UNKNOWN_TEXT}"
    assert messages_of(response) == [f"{payment.public_id}: {said}"]
    assert log_messages(payment) == [said]


def test_staff_capture_left_unknown_is_not_reported_and_audited_as_captured(
    staff_client, make_payment, monkeypatch
):
    payment = make_payment(capture=False)
    _answer_lost(monkeypatch, "capture")
    response = action(staff_client, "capture", payment)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.UNKNOWN
    said = f"Capture sent; {UNKNOWN_TEXT}"
    assert messages_of(response) == [f"{payment.public_id}: {said}"]
    assert log_messages(payment) == [said]


def test_refused_capture_is_an_error_message_not_a_500(staff_client, make_payment):
    payment = make_payment()  # already captured
    response = action(staff_client, "capture", payment)
    assert response.status_code == 200
    [message] = messages_of(response)
    assert message.startswith(f"{payment.public_id}: could not capture: ")
    assert "captured payment cannot be captured" in message
    assert log_messages(payment) == []


def test_operations_need_change_permission(viewer_client, make_payment):
    payment = make_payment(capture=False)
    url = reverse("admin:payments_payment_capture", args=[payment.pk])
    assert viewer_client.post(url).status_code == 403
    response = viewer_client.get(CHANGELIST)
    assert 'value="capture"' not in response.content.decode()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.AUTHORIZED


def test_reconcile_action_settles_an_unknown_payment(staff_client, make_payment):
    payment = make_payment(token="tok_timeout")
    assert payment.status == PaymentStatus.UNKNOWN
    response = action(staff_client, "reconcile", payment)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED
    assert f"{payment.public_id}: Reconciled: unknown → captured." in messages_of(
        response
    )
    assert log_messages(payment) == ["Reconciled: unknown → captured."]


# --- refunds --------------------------------------------------------------------


def test_refund_form_defaults_to_the_remainder_in_major_units(
    staff_client, make_payment
):
    payment = make_payment(amount=12_345)
    response = staff_client.get(refund_url(payment))
    assert response.status_code == 200
    form = response.context["form"]
    assert form["amount"].value() == "123.45"
    assert form.fields["amount"].label == "Amount (EUR)"
    assert "€123.45" in form.fields["amount"].help_text


def test_refund_part_then_the_rest(staff_client, make_payment):
    payment = make_payment(amount=10_000)
    data = refund_form(staff_client, payment) | {
        "amount": "25.50",
        "reason": "damaged parcel",
        "confirm": "on",
    }
    response = staff_client.post(refund_url(payment), data, follow=True)
    assert response.redirect_chain[-1][0] == change_url(payment)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PARTIALLY_REFUNDED
    assert payment.amount_refunded == 2_550
    refund = Refund.objects.get(payment=payment)
    assert (refund.status, refund.requested_by) == (RefundStatus.SUCCEEDED, "boss")
    assert log_messages(payment) == [
        f"Refund {refund.public_id} of €25.50: succeeded (damaged parcel)."
    ]
    kinds = [entry.kind for entry in response.context["timeline"]]
    assert kinds.count("refund") == 1
    assert "€74.50" in response.content.decode()  # refundable now

    # The form now offers the rest.
    rest = refund_form(staff_client, payment)
    assert rest["amount"] == "74.50"
    staff_client.post(
        refund_url(payment), rest | {"reason": "order cancelled", "confirm": "on"}
    )
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.amount_refunded == 10_000


def test_a_double_submit_refunds_once(staff_client, make_payment):
    payment = make_payment()
    data = refund_form(staff_client, payment) | {
        "amount": "10",
        "reason": "x",
        "confirm": "on",
    }
    staff_client.post(refund_url(payment), data)
    staff_client.post(refund_url(payment), data)
    payment.refresh_from_db()
    assert payment.amount_refunded == 1_000
    assert Refund.objects.filter(payment=payment).count() == 1


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        ("100.01", "At most €100.00 can be refunded on this payment."),
        ("0", "Enter an amount above zero."),
        ("-5", "Enter an amount above zero."),
        ("10.005", "EUR amounts have at most 2 decimal places"),
        ("ten", "is not a decimal amount"),
    ],
)
def test_refund_amount_is_validated(staff_client, make_payment, amount, error):
    payment = make_payment()
    data = refund_form(staff_client, payment) | {
        "amount": amount,
        "reason": "r",
        "confirm": "on",
    }
    response = staff_client.post(refund_url(payment), data)
    assert response.status_code == 200
    assert error in " ".join(response.context["form"].errors["amount"])
    assert not Refund.objects.exists()


def test_refund_needs_confirmation_and_a_reason(staff_client, make_payment):
    payment = make_payment()
    data = refund_form(staff_client, payment) | {"reason": ""}
    response = staff_client.post(refund_url(payment), data)
    errors = response.context["form"].errors
    assert errors["confirm"] == ["Tick the box to confirm the refund."]
    assert "reason" in errors
    assert not Refund.objects.exists()


def test_zero_decimal_currency_refund(staff_client, make_payment):
    payment = make_payment(amount=5_000, currency="JPY")
    form = refund_form(staff_client, payment)
    assert form["amount"] == "5000"
    staff_client.post(
        refund_url(payment), form | {"amount": "1200", "reason": "r", "confirm": "on"}
    )
    payment.refresh_from_db()
    assert payment.amount_refunded == 1_200
    response = staff_client.post(
        refund_url(payment), form | {"amount": "1.5", "reason": "r", "confirm": "on"}
    )
    assert response.context["form"].errors["amount"]


def test_refund_without_the_permission_is_forbidden(clerk_client, make_payment):
    payment = make_payment()
    assert clerk_client.get(refund_url(payment)).status_code == 403
    response = clerk_client.post(
        refund_url(payment),
        {"amount": "1", "reason": "r", "confirm": "on", "token": "0" * 32},
    )
    assert response.status_code == 403
    assert not Refund.objects.exists()
    page = clerk_client.get(change_url(payment)).content.decode()
    assert 'id="refund-link"' not in page


def test_refund_permission_alone_is_enough(django_user_model, client, make_payment):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(
        "refunder", password="pw", is_staff=True
    )
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_payment", "refund_payment"])
    )
    client.force_login(user)
    payment = make_payment()
    data = refund_form(client, payment) | {
        "amount": "1",
        "reason": "r",
        "confirm": "on",
    }
    client.post(refund_url(payment), data)
    payment.refresh_from_db()
    assert payment.amount_refunded == 100


def test_refund_action_opens_the_form_for_one_payment(staff_client, make_payment):
    one, two = make_payment(), make_payment()
    response = staff_client.post(
        CHANGELIST, {"action": "refund", "_selected_action": [one.pk]}
    )
    assert response.status_code == 302
    assert response["Location"] == refund_url(one)
    response = action(staff_client, "refund", one, two)
    assert messages_of(response) == ["Refund one payment at a time."]


def test_a_gateway_refusal_is_an_error_message(staff_client, make_payment):
    payment = make_payment()
    # Refunded at the gateway behind our back: the gateway refuses the refund.
    SandboxCharge.objects.filter(reference=payment.provider_reference).update(
        amount_refunded=10_000
    )
    data = refund_form(staff_client, payment) | {
        "amount": "10",
        "reason": "r",
        "confirm": "on",
    }
    response = staff_client.post(refund_url(payment), data, follow=True)
    assert response.status_code == 200
    [message] = response.context["messages"]
    assert message.level_tag == "error"
    assert "failed" in str(message) and "refund exceeds the unrefunded amount" in str(
        message
    )
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.CAPTURED, 0)


def test_an_unreachable_gateway_leaves_the_refund_pending_for_a_retry(
    staff_client, make_payment, primary, settings
):
    settings.PROVIDER_MAX_ATTEMPTS = 1
    payment = make_payment()
    primary.settings = {"outage": True}
    primary.save()
    data = refund_form(staff_client, payment) | {
        "amount": "10",
        "reason": "r",
        "confirm": "on",
    }
    response = staff_client.post(refund_url(payment), data, follow=True)
    assert response.status_code == 200
    [message] = messages_of(response)
    # Not a dead end (issue 17, part 10): pending, and sent again later.
    assert "pending" in message
    assert "sent again automatically" in message
    payment.refresh_from_db()
    assert payment.amount_refunded == 0
    refund = payment.refunds.get()
    assert (refund.status, refund.failure_code) == ("pending", "no_provider_available")
    assert refund.next_attempt_at is not None


def test_refund_of_a_missing_payment_is_404(staff_client):
    url = reverse("admin:payments_payment_refund", args=[999999])
    assert staff_client.get(url).status_code == 404
