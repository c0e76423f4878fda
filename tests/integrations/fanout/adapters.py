"""A shipping adapter for these tests: one quote request to the fault server
at the account's ``base_url``, through the shared client."""

from typing import Any

from integrations.client import client_for
from integrations.providers.base import BaseAdapter, HealthResult

PATH = "tests.integrations.fanout.adapters.QuoteAdapter"
QUOTE_PATH = "/v1/quote"


class QuoteAdapter(BaseAdapter):
    kind = "shipping"
    code = "quotes"
    display_name = "Fault-server quotes"

    def health_check(self) -> HealthResult:
        return HealthResult(ok=True)

    def quote(self) -> dict[str, Any]:
        response = client_for(self.account).request(
            "GET",
            self.account.settings["base_url"] + QUOTE_PATH,
            operation="quote",
            idempotent=True,
            expect_json=True,
        )
        return response.json()
