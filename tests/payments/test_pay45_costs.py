"""pay45: what a payment through the API costs in Python work, on counts
that do not depend on the machine's load."""

from typing import Any

import pytest
from django.db.utils import ConnectionHandler

from tests.payments.test_pay44_costs import create_payment_via_api

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_payment_looks_its_connection_up_a_handful_of_times(
    api, primary, monkeypatch
):
    # Each ``connections[alias]`` costs ~7 Python calls; the payment's path
    # asked 28 times. Inside its commit group the group's look-up serves
    # (integrations.commits.connection_for); Django's atomic blocks and
    # request signals make most of the 13 left.
    create_payment_via_api(api)  # warm
    asked: list[str] = []
    original = ConnectionHandler.__getitem__

    def counting(self: ConnectionHandler, alias: str) -> Any:
        asked.append(alias)
        return original(self, alias)

    monkeypatch.setattr(ConnectionHandler, "__getitem__", counting, raising=False)
    response = create_payment_via_api(api)
    assert response.status_code == 201, response.content
    assert len(asked) <= 13, asked
