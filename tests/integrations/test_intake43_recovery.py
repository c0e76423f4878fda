"""intake43: staff's replay of unusable bodies. A stored SNS body is read
again only while its topic is still on the account's allow-list, and a
replay that only recovers says what became of each row, not "0 queued"."""

import pytest
import responses
from django.urls import reverse

from integrations.models import WebhookEvent, WebhookStatus
from tests.factories import ProviderAccountFactory
from tests.integrations.intake42_helpers import (
    REFUND_EVENT,
    dead_before_the_fix,
    received,
    recovered,
    replay,
)
from tests.notifications.contract import harness_amazon_ses

pytestmark = pytest.mark.django_db


def _sns_dead_before_the_fix(account) -> WebhookEvent:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        hook = harness_amazon_ses.notification(rsps, harness_amazon_ses.event("bounce"))
        return dead_before_the_fix(
            account, hook.body, HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification"
        )


def test_stored_sns_body_of_an_allowed_topic_is_recovered(staff):
    account = harness_amazon_ses.make_account()
    row = _sns_dead_before_the_fix(account)
    text = replay(staff, row)
    assert "Recovered by replay" in text
    assert [e.event_type for e in recovered(account)] == ["Bounce"]


def test_stored_sns_body_of_a_topic_removed_since_is_refused(staff):
    account = harness_amazon_ses.make_account()
    row = _sns_dead_before_the_fix(account)
    account.settings = {**account.settings, "sns_topic_arns": "arn:aws:sns:x:1:other"}
    account.save()
    before = WebhookEvent.objects.values().get(pk=row.pk)

    text = replay(staff, row)

    assert "Not read again" in text
    assert "allow-list" in text
    assert recovered(account) == []
    assert WebhookEvent.objects.values().get(pk=row.pk) == before


def test_stored_sns_body_of_an_account_with_no_allow_list_now_is_refused(staff):
    account = harness_amazon_ses.make_account()
    row = _sns_dead_before_the_fix(account)
    account.settings = {**account.settings, "sns_topic_arns": ""}
    account.save()
    text = replay(staff, row)
    assert "Not read again" in text
    assert recovered(account) == []
    assert WebhookEvent.objects.get(pk=row.pk).status == WebhookStatus.DEAD


def _select(staff, ids) -> str:
    url = reverse("admin:integrations_webhookevent_changelist")
    data = {"action": "replay_selected", "_selected_action": list(ids)}
    return staff.post(url, data, follow=True).content.decode()


def test_selecting_only_unusable_rows_says_what_became_of_them(staff):
    readable = ProviderAccountFactory(slug="sbx-a")
    row_ok = dead_before_the_fix(readable, REFUND_EVENT, "msg_1")
    unreadable = ProviderAccountFactory(slug="sbx-b")
    row_bad = dead_before_the_fix(unreadable, b"[1]", "msg_2")
    disabled = ProviderAccountFactory(slug="sbx-c")
    row_off = dead_before_the_fix(disabled, REFUND_EVENT, "msg_3")
    disabled.enabled = False
    disabled.save()

    text = _select(staff, [row_ok.pk, row_bad.pk, row_off.pk])

    assert "0 webhook event(s) queued" not in text
    assert "Unusable bodies read again: 1 recovered, 1 still unreadable, 1 refused" in (
        text
    )
    assert f"#{row_off.pk}: its account is disabled" in text


def test_a_mixed_selection_says_both(staff):
    account = ProviderAccountFactory(slug="sbx-pay")
    row = dead_before_the_fix(account, REFUND_EVENT, "msg_1")
    failed = received(account, "msg_2")

    text = _select(staff, [row.pk, failed.pk])

    assert "1 webhook event(s) queued for replay." in text
    assert "Unusable bodies read again: 1 recovered, 0 still unreadable, 0 refused" in (
        text
    )
