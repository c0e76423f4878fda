"""r-intake43: what an outside read of ``manage.py replay_webhooks`` found,
each proven through the command; and Stripe's scheme on a body that is not
UTF-8, locked in through the webhook URL."""

import hashlib
import hmac
import time

import pytest
from django.core.management.base import CommandError

from integrations.models import WebhookEvent, WebhookStatus
from tests.factories import ProviderAccountFactory
from tests.integrations.intake41_helpers import (
    assert_refused_unstored,
    assert_stored_unusable,
)
from tests.integrations.intake41_helpers import post as intake_post
from tests.integrations.intake42_helpers import (
    dead_before_the_fix,
    failed,
    run_replay,
)
from tests.integrations.intake_payments import STRIPE_SECRET, stripe_account

pytestmark = pytest.mark.django_db


def test_a_filter_cut_at_the_limit_says_that_more_match():
    # Silently stopping at --limit reads as "all replayed"; unusable rows
    # that stay dead are chosen again by the next run, so the operator must
    # be told that more match and how to reach them.
    account = ProviderAccountFactory(slug="sbx-pay")
    rows = [failed(account, f"msg_{n}") for n in range(3)]

    out = run_replay("--account", "sbx-pay", "--status", "dead", "--limit", "2")

    lines = out.splitlines()
    assert lines[:2] == [
        f"#{rows[0].pk}: queued for replay.",
        f"#{rows[1].pk}: queued for replay.",
    ]
    assert lines[-1] == (
        "Stopped at --limit 2: more events match (raise --limit, or narrow "
        "with --since)."
    )
    assert WebhookEvent.objects.get(pk=rows[2].pk).status == WebhookStatus.DEAD


def test_a_filter_within_the_limit_says_nothing_more():
    account = ProviderAccountFactory(slug="sbx-pay")
    failed(account, "msg_1")
    failed(account, "msg_2")
    out = run_replay("--account", "sbx-pay", "--status", "dead", "--limit", "2")
    assert "Stopped at --limit" not in out


def test_lines_are_in_event_order():
    # The rows updated by an earlier replay come back from the database in
    # another order; the lines follow the events' ids.
    account = ProviderAccountFactory(slug="sbx-pay")
    first, second = failed(account, "msg_1"), failed(account, "msg_2")
    run_replay(str(first.pk))
    WebhookEvent.objects.filter(pk__in=[first.pk, second.pk]).update(
        status=WebhookStatus.DEAD
    )

    out = run_replay(str(second.pk), str(first.pk))

    assert out.splitlines()[:2] == [
        f"#{first.pk}: queued for replay.",
        f"#{second.pk}: queued for replay.",
    ]


def test_a_row_recovered_before_is_not_said_as_recovered_now():
    account = ProviderAccountFactory(slug="sbx-pay")
    row = dead_before_the_fix(account)
    run_replay(str(row.pk))

    again = run_replay(str(row.pk)).splitlines()

    assert again[0].startswith(f"#{row.pk} (unusable body): Already recovered")
    assert "1 already recovered" in again[-1]


def test_limit_with_ids_is_bad_input_not_ignored():
    account = ProviderAccountFactory(slug="sbx-pay")
    row = failed(account, "msg_1")
    with pytest.raises(CommandError, match="--limit goes with filters"):
        run_replay(str(row.pk), "--limit", "5")
    assert WebhookEvent.objects.get(pk=row.pk).status == WebhookStatus.DEAD


# Stripe's scheme on a body that is not UTF-8, locked in: every v1= entry is
# tried, the HMAC is over the bytes themselves, and t= is checked both ways.
NOT_UTF8 = b'{"id": "evt_1", "type": "charge.succeeded", "x": "\xff"}'


def _stripe_header(body: bytes, *, at: int | None = None, first: str = "") -> str:
    moment = int(time.time()) if at is None else at
    signed = f"{moment}.".encode() + body
    digest = hmac.new(STRIPE_SECRET.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={moment},{first}v1={digest},v0=ignored"


def test_stripe_bytes_match_any_v1_entry_rotated_secrets_included():
    account = stripe_account()
    header = _stripe_header(NOT_UTF8, first="v1=" + "0" * 64 + ",")
    response = intake_post(account, NOT_UTF8, HTTP_STRIPE_SIGNATURE=header)
    assert_stored_unusable(account, response, NOT_UTF8)


def test_stripe_signature_over_the_decoded_text_is_not_taken_for_the_bytes():
    account = stripe_account()
    text = NOT_UTF8.decode("utf-8", "replace").encode()
    response = intake_post(
        account, NOT_UTF8, HTTP_STRIPE_SIGNATURE=_stripe_header(text)
    )
    assert_refused_unstored(response, 401)


@pytest.mark.parametrize("skew", [-3600, 3600])
def test_stripe_bytes_signed_outside_the_tolerance_are_stale(skew):
    account = stripe_account()
    header = _stripe_header(NOT_UTF8, at=int(time.time()) + skew)
    response = intake_post(account, NOT_UTF8, HTTP_STRIPE_SIGNATURE=header)
    assert_refused_unstored(response, 401)
    assert response.json()["error"]["code"] == "timestamp_out_of_tolerance"
