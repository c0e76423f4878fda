"""pay45: what a payment through the API costs in Python work, on counts
that do not depend on the machine's load."""

import sys
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db.utils import ConnectionHandler

from tests.payments.test_pay44_costs import create_payment_via_api

pytestmark = pytest.mark.django_db(transaction=True)


# The count is the PostgreSQL path's (SQLite's writes go through the ORM).
@pytest.mark.postgres
def test_a_payment_looks_its_connection_up_a_handful_of_times(
    api, primary, monkeypatch
):
    # Each ``connections[alias]`` costs ~7 Python calls; the payment's path
    # asked 28 times. Inside its commit group the group's look-up serves
    # (integrations.commits.connection_for); Django's atomic blocks and
    # request signals make most of the 13 left.
    create_payment_via_api(api)  # warm
    # The key's last-used stamp (an UPDATE at most once a minute) adds its
    # look-ups to whichever payment falls due: under load, the measured one.
    monkeypatch.setattr(
        "integrations.api.auth._LAST_USED_RESOLUTION", timedelta(days=1)
    )
    asked: list[str] = []
    original = ConnectionHandler.__getitem__

    payer = threading.get_ident()

    def counting(self: ConnectionHandler, alias: str) -> Any:
        # The payment's thread only: the call log's writer thread closes its
        # connections when idle (connections.all()), when load makes it so.
        if threading.get_ident() == payer:
            caller = sys._getframe(1)  # where it was asked: shown if the bound trips
            asked.append(f"{caller.f_code.co_filename}:{caller.f_lineno}")
        return original(self, alias)

    monkeypatch.setattr(ConnectionHandler, "__getitem__", counting, raising=False)
    # The fewest of three payments: other periodic work (a refresh falling
    # due) lands on one payment now and then; a costlier path costs all three.
    counts: list[list[str]] = []
    for _ in range(3):
        asked.clear()
        response = create_payment_via_api(api)
        assert response.status_code == 201, response.content
        counts.append(list(asked))
    asked = min(counts, key=len)
    assert len(asked) <= 13, "\n".join(asked)


def test_the_stored_response_is_encoded_once(api, primary, monkeypatch):
    # The body was rendered, decoded and encoded again for its JSON column
    # (~30 Python calls): the rendered text now goes to the column as it is.
    from integrations.models import IdempotencyRecord

    field = IdempotencyRecord._meta.get_field("response_body")
    converted: list[Any] = []
    original = field.get_db_prep_save

    def counting(value: Any, connection: Any) -> Any:
        if value is not None:  # the claim's NULL
            converted.append(value)
        return original(value, connection)

    monkeypatch.setattr(field, "get_db_prep_save", counting)
    key = "pay45-once"
    body = {"order_id": "o-once", "amount": 1050, "currency": "EUR"}
    body |= {"source_token": "tok_success", "metadata": {"note": "caf\u00e9"}}
    first = api.post("/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == 201, first.content
    assert converted == []
    again = api.post("/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert again.status_code == 201, again.content
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    stored = IdempotencyRecord.objects.get(key=key)
    assert stored.response_body == first.json()


def test_a_payments_moments_are_shown_in_a_few_calls(db):
    # DRF's DateTimeField walks ~19 Python calls a moment (its time zone
    # looked up through a context-local each time): two moments a payment.
    import cProfile
    import pstats
    from datetime import UTC, datetime

    from payments.models import Payment
    from payments.serializers import payment_data

    moment = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    payment = Payment(public_id="pay_c", currency="EUR")
    payment.created_at = payment.updated_at = moment
    payment_data(payment)  # warm
    profile = cProfile.Profile()
    profile.runcall(payment_data, payment)
    calls = pstats.Stats(profile).total_calls
    assert calls <= 161, calls  # 191 through DRF's DateTimeField
