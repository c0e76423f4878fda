"""A fake Braintree gateway: transaction sale, submit for settlement, find
and search, in the XML the official SDK sends and parses.

Answers are the gateway's transaction as in tests/fixtures/braintree/
transaction_authorized.xml (and error_processor_declined.xml for a decline),
with this fake's ids, amounts and statuses put in. Idempotency as Braintree
documents ``api_request_key``: a request repeating a key is answered with the
first result and performs nothing. Search finds sales by order id only once
the fake's index has caught up (``catch_up``), as Braintree's search lags.
"""

import re
from pathlib import Path
from typing import Any

import braintree
import pytest
from braintree.util.xml_util import XmlUtil

from integrations.models import ProviderAccount
from integrations.testing.faultserver import Behaviour, RecordedRequest, respond
from tests.factories import ProviderAccountFactory
from tests.payments.fakes.base import FAST, Charge, FakeGateway

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "braintree"
MERCHANT = "fault_merchant"
TRANSACTION = (FIXTURES / "transaction_authorized.xml").read_text()
DECLINED = (FIXTURES / "error_processor_declined.xml").read_text()
XML = {"Content-Type": "application/xml; charset=utf-8"}
_BASE = f"/merchants/{MERCHANT}/transactions"
_SUBMIT = re.compile(_BASE + r"/([a-z0-9]+)/submit_for_settlement")
_ONE = re.compile(_BASE + r"/([a-z0-9]+)")
_STATUS = {
    "authorized": "authorized",
    "captured": "submitted_for_settlement",
    "cancelled": "voided",
}
_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _xml(status: int, text: str) -> Behaviour:
    return respond(status, body=text.encode(), headers=XML)


class FakeBraintree(FakeGateway):
    provider = "braintree"

    def account(self) -> ProviderAccount:
        return ProviderAccountFactory(
            provider="braintree",
            slug="fault-braintree",
            mode="test",
            settings=dict(FAST),
            credentials={
                "merchant_id": MERCHANT,
                "public_key": "faultpublickey",
                "private_key": "faultprivatekey0123456789abcdef",
            },
        )

    def point_at(self, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
        port = url.rsplit(":", 1)[1]
        local = braintree.Environment(
            "fault", "127.0.0.1", port, "http://127.0.0.1", False, None
        )
        monkeypatch.setattr(braintree.Environment, "Sandbox", local)

    def source(
        self, *, order_id: str, amount: int, currency: str, capture: bool
    ) -> str:
        return "fake-valid-nonce"

    def operation(self, request: RecordedRequest) -> str:
        if request.method == "POST" and request.path == _BASE:
            return "create"
        if request.method == "PUT" and _SUBMIT.fullmatch(request.path):
            return "capture"
        return "read"

    def decline(self, operation: str) -> Behaviour:
        return _xml(422, DECLINED)

    def handle(self, request: RecordedRequest) -> Behaviour:
        sent = XmlUtil.dict_from_xml(request.body.decode()) if request.body else {}
        params = sent.get("transaction") or {}
        key = str(params.get("api_request_key") or "")
        if key and key in self.replies:
            return self.replies[key]
        answer = self._handle(request, params, sent.get("search") or {})
        if key and answer.status < 500:
            self.replies[key] = answer
        return answer

    def _handle(
        self, request: RecordedRequest, params: dict[str, Any], search: dict[str, Any]
    ) -> Behaviour:
        operation = self.operation(request)
        if operation == "create":
            return self._sale(params)
        if request.path == _BASE + "/advanced_search_ids":
            ids = [c.id for c in self._matching(search)]
            items = "".join(f"<item>{i}</item>" for i in ids)
            return _xml(
                200,
                '<search-results><page-size type="integer">50</page-size>'
                f'<ids type="array">{items}</ids></search-results>',
            )
        if request.path == _BASE + "/advanced_search":
            wanted = set(search.get("ids") or [])
            found = [c for c in self.charges.values() if c.id in wanted]
            return _xml(200, self._collection(found))
        match = _SUBMIT.fullmatch(request.path) or _ONE.fullmatch(request.path)
        charge = self.charges.get(match.group(1)) if match else None
        if charge is None:
            return respond(404, body=b"", headers=XML)
        if operation == "capture":
            if charge.state != "authorized":
                return _xml(422, DECLINED)
            charge.state = "captured"
            self.performed["capture"] += 1
        return _xml(200, self._transaction(charge))

    def _sale(self, params: dict[str, Any]) -> Behaviour:
        settle = bool((params.get("options") or {}).get("submit_for_settlement"))
        charge = Charge(
            id=self.new_id("").lower()[:8],
            order_id=str(params["order_id"]),
            amount=round(float(params["amount"]) * 100),
            currency="USD",
            state="captured" if settle else "authorized",
            key=str(params.get("api_request_key") or ""),
        )
        self.charges[charge.id] = charge
        self.performed["create"] += 1
        return _xml(201, self._transaction(charge))

    def _matching(self, search: dict[str, Any]) -> list[Charge]:
        order = (search.get("order_id") or {}).get("is")
        return [
            c
            for c in self.charges.values()
            if c.order_id == order and c.id in self.indexed
        ]

    def _transaction(self, charge: Charge) -> str:
        return (
            TRANSACTION.replace("k9y7n3pq", charge.id)
            .replace(
                "<status>authorized</status>",
                f"<status>{_STATUS[charge.state]}</status>",
            )
            .replace("10.50", f"{charge.amount / 100:.2f}")
            .replace("order-1001", charge.order_id)
        )

    def _collection(self, charges: list[Charge]) -> str:
        body = "".join(self._transaction(c).replace(_HEADER, "") for c in charges)
        return (
            '<credit-card-transactions type="collection">'
            '<current-page-number type="integer">1</current-page-number>'
            '<page-size type="integer">50</page-size>'
            f'<total-items type="integer">{len(charges)}</total-items>'
            f"{body}</credit-card-transactions>"
        )
