"""r-pay45: the idempotency record's body, stored from the rendered bytes
(pay45), holds the same JSON value as the first answer for text that JSON
escapes or spells out (non-ASCII, line separators, quotes, backslashes),
for a 201 and for a refusal, on PostgreSQL and SQLite alike."""

import pytest

from integrations.models import IdempotencyRecord

pytestmark = pytest.mark.django_db(transaction=True)

ODD = 'caf\u00e9 \u2028\u2029 \U0001f600 "q" \\ </script>'


def _post(api, key: str, amount: int):
    body = {"order_id": f"o-{key}", "amount": amount, "currency": "EUR"}
    body |= {"source_token": "tok_success", "metadata": {"note": ODD}}
    return api.post("/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.parametrize(("amount", "status"), [(1050, 201), (0, 400)])
def test_an_odd_text_is_stored_and_replayed_as_answered(api, primary, amount, status):
    first = _post(api, f"k{amount}", amount)
    assert first.status_code == status, first.content
    again = _post(api, f"k{amount}", amount)
    assert again.status_code == status
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    stored = IdempotencyRecord.objects.get(key=f"k{amount}")
    assert stored.response_body == first.json()
    if status == 201:
        assert again.json()["metadata"]["note"] == ODD
