"""r-intake44 (review of intake44): ``replay_webhooks --since`` at a clock
change, and PayPal's published example event through the strict intake.

A local time a clock change skips (02:30 on 29 March 2026 in Berlin) or
repeats (02:30 on 25 October) is no one moment: read silently as one of
its readings, a skipped time dropped events staff see as after it (03:10
CEST). The admin's forms refuse such a time; so does the command, naming an
offset that settles it. A date is its day's start, even where the clock
skips midnight."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import responses
from django.core.management.base import CommandError

from integrations.models import WebhookStatus
from tests.factories import ProviderAccountFactory
from tests.integrations.intake41_helpers import post
from tests.integrations.intake42_helpers import (
    assert_since_picks,
    failed_at,
    run_replay,
)
from tests.integrations.intake_payments import (
    PAYPAL_BASE,
    PAYPAL_VERIFY_URL,
    paypal_account,
    paypal_headers,
)

pytestmark = pytest.mark.django_db

SPEC = Path("/work/shared/provider-specs/paypal/notifications_webhooks_v1.json")


@pytest.mark.parametrize(
    ("since", "offsets"),
    [
        ("2026-03-29T02:30", "+01:00 or +02:00"),  # skipped: clocks go forward
        ("2026-10-25T02:30", "+02:00 or +01:00"),  # repeated: clocks go back
        ("2026-03-29 02:00:00", "+01:00 or +02:00"),
    ],
)
def test_since_at_a_clock_change_is_refused_and_nothing_replayed(
    settings, since, offsets
):
    settings.TIME_ZONE = "Europe/Berlin"
    account = ProviderAccountFactory(slug="sbx-pay")
    # 03:10 CEST on 29 March (after the skipped 02:30, as the admin shows it).
    row = failed_at(account, "msg_1", datetime(2026, 3, 29, 1, 10, tzinfo=UTC))

    with pytest.raises(CommandError) as caught:
        run_replay("--account", "sbx-pay", "--status", "dead", "--since", since)

    said = str(caught.value)
    assert "--since" in said and "Europe/Berlin" in said
    assert offsets in said
    assert "\n" not in said
    row.refresh_from_db()
    assert row.status == WebhookStatus.DEAD


def test_since_at_a_clock_change_with_an_offset_is_read_as_it_says(settings):
    assert_since_picks(
        settings,
        "Europe/Berlin",
        "2026-03-29T02:00+01:00",
        datetime(2026, 3, 29, 0, 50, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 10, tzinfo=UTC),
    )


def test_a_date_whose_midnight_the_clock_skips_is_that_days_start(settings):
    # Santiago: 6 September 2026 starts at 01:00 -03 (04:00 UTC).
    assert_since_picks(
        settings,
        "America/Santiago",
        "2026-09-06",
        datetime(2026, 9, 6, 3, 50, tzinfo=UTC),
        datetime(2026, 9, 6, 4, 10, tzinfo=UTC),
    )


def _spec_event() -> dict:
    spec = json.loads(SPEC.read_text())
    verify = spec["paths"]["/v1/notifications/verify-webhook-signature"]["post"]
    examples = verify["requestBody"]["content"]["application/json"]["examples"]
    return examples["verify_webhook_signature"]["value"]["webhook_event"]


@pytest.mark.skipif(not SPEC.exists(), reason="provider-specs not on this machine")
@pytest.mark.parametrize(
    "encode",
    [
        lambda event: json.dumps(event, separators=(",", ":")).encode(),
        lambda event: json.dumps(event, indent=2).encode() + b"\n",
        # A payer's name as PayPal sends it: UTF-8, not escaped.
        lambda event: json.dumps(
            {**event, "summary": "Zahlung von José Müller"}, ensure_ascii=False
        ).encode(),
    ],
)
def test_paypals_published_example_event_is_still_verified_and_stored(encode):
    account = paypal_account()
    body = encode(_spec_event())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(
            f"{PAYPAL_BASE}/v1/oauth2/token",
            json={"access_token": "A21", "token_type": "Bearer", "expires_in": 3600},
        )
        rsps.post(PAYPAL_VERIFY_URL, json={"verification_status": "SUCCESS"})
        response = post(account, body, **paypal_headers())
        [sent] = [
            c.request.body for c in rsps.calls if c.request.url == PAYPAL_VERIFY_URL
        ]

    assert response.status_code == 200, response.content
    assert sent.endswith(b',"webhook_event":' + body + b"}")
    json.loads(sent)  # still one JSON request
    stored = account.webhook_events.get()
    assert stored.dedupe_key == "8PT597110X687430LKGECATA"
    assert stored.event_type == "PAYMENT.AUTHORIZATION.CREATED"
