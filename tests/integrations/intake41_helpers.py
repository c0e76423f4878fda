"""What every intake41 test checks of a signed webhook whose body cannot be
used: answered 2xx, stored once as received, dead with its error, never
processed."""

from django.test import Client

from integrations.models import ProviderAccount, WebhookEvent, WebhookStatus

# The event type an unusable body is stored under (integrations.webhooks.unusable).
UNUSABLE = "(unusable body)"

# Bodies no adapter can use.
JUNK = {
    "array": b'[{"id": "evt_1"}]',
    "scalar": b"42",
    "empty": b"",
    "not_json": b"not json at all",
}


def post(account: ProviderAccount, body: bytes, *, query: str = "", **headers):
    return Client().post(
        f"/webhooks/{account.slug}/{query}",
        data=body,
        content_type="application/json",
        **headers,
    )


def assert_stored_unusable(account: ProviderAccount, response, body: bytes) -> None:
    assert response.status_code == 200, response.content
    assert response.json()["received"] is True
    row = WebhookEvent.objects.get(account=account)
    assert row.event_type == UNUSABLE
    assert row.status == WebhookStatus.DEAD
    assert bytes(row.raw_body) == body
    assert row.dedupe_key.startswith("sha256:")
    # The error code and a readable reason, for staff.
    assert "malformed_request" in row.last_error or "missing_header" in row.last_error
    assert row.attempts == 0


def assert_refused_unstored(response, status: int = 400) -> None:
    assert response.status_code == status, response.content
    assert not WebhookEvent.objects.exists()
