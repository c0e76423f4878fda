"""A fake Square: Payments API create (delayed capture), complete, get and
cancel by idempotency key.

Follows Square's OpenAPI document (CreatePayment, CompletePayment, GetPayment,
CancelPaymentByIdempotencyKey) and answers with its example Payment,
tests/fixtures/square/create_payment_approved.json; errors from
tests/fixtures/square/errors.json. Idempotency as Square documents it: a
CreatePayment with a seen ``idempotency_key`` returns the payment it created;
a cancel by key voids what that key created (and succeeds if it created
nothing); COMPLETED payments cannot be cancelled.
"""

import copy
import json
import re
from pathlib import Path

import pytest

from integrations.models import ProviderAccount
from integrations.testing.faultserver import Behaviour, RecordedRequest, respond
from payments.providers.square import SquareAdapter
from tests.factories import ProviderAccountFactory
from tests.payments.fakes.base import FAST, Charge, FakeGateway

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "square"
PAYMENT = json.loads((FIXTURES / "create_payment_approved.json").read_text())["payment"]
ERRORS = json.loads((FIXTURES / "errors.json").read_text())
_COMPLETE = re.compile(r"/v2/payments/([^/]+)/complete")
_ONE = re.compile(r"/v2/payments/([^/]+)")
_STATUS = {"authorized": "APPROVED", "captured": "COMPLETED", "cancelled": "CANCELED"}


class FakeSquare(FakeGateway):
    provider = "square"
    capture_after_authorize = True

    def account(self) -> ProviderAccount:
        return ProviderAccountFactory(
            provider="square",
            slug="fault-square",
            mode="test",
            settings={**FAST, "location_id": "L88917AVBK2S5"},
            credentials={"access_token": "EAAAl-fault-matrix-token"},
        )

    def point_at(self, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
        monkeypatch.setattr(SquareAdapter, "base_urls", {"test": url, "live": url})

    def source(
        self, *, order_id: str, amount: int, currency: str, capture: bool
    ) -> str:
        return "cnon:card-nonce-ok"

    def operation(self, request: RecordedRequest) -> str:
        if request.method == "POST" and request.path == "/v2/payments":
            return "create"
        if request.method == "POST" and _COMPLETE.fullmatch(request.path):
            return "capture"
        return "read"

    def decline(self, operation: str) -> Behaviour:
        return respond(402, json=ERRORS["GENERIC_DECLINE"])

    def handle(self, request: RecordedRequest) -> Behaviour:
        operation = self.operation(request)
        if operation == "create":
            return self._create(request.json())
        if request.method == "POST" and request.path == "/v2/payments/cancel":
            return self._cancel_by_key(request.json()["idempotency_key"])
        complete = _COMPLETE.fullmatch(request.path)
        one = _ONE.fullmatch(request.path)
        charge = (
            self.charges.get((complete or one).group(1)) if (complete or one) else None
        )
        if charge is None:
            return respond(404, json=ERRORS["NOT_FOUND"])
        if complete and charge.state == "authorized":
            charge.state = "captured"
            self.performed["capture"] += 1
        elif complete:
            return respond(400, json=ERRORS["MISSING_REQUIRED_PARAMETER"])
        return respond(200, json={"payment": self._payment(charge)})

    def _create(self, body: dict) -> Behaviour:
        key = body["idempotency_key"]
        charge = next((c for c in self.charges.values() if c.key == key), None)
        if charge is None:
            money = body["amount_money"]
            charge = Charge(
                id=self.new_id("SQ"),
                order_id=body["reference_id"],
                amount=int(money["amount"]),
                currency=money["currency"],
                state="captured" if body.get("autocomplete", True) else "authorized",
                key=key,
            )
            self.charges[charge.id] = charge
            self.performed["create"] += 1
        return respond(200, json={"payment": self._payment(charge)})

    def _cancel_by_key(self, key: str) -> Behaviour:
        charge = next((c for c in self.charges.values() if c.key == key), None)
        if charge is not None and charge.state == "captured":
            return respond(400, json=ERRORS["MISSING_REQUIRED_PARAMETER"])
        if charge is not None:
            charge.state = "cancelled"
        return respond(200, json={})

    def _payment(self, charge: Charge) -> dict:
        payment = copy.deepcopy(PAYMENT)
        money = {"amount": charge.amount, "currency": charge.currency}
        payment.update(
            id=charge.id,
            status=_STATUS[charge.state],
            amount_money=money,
            approved_money=money,
            total_money=money,
            reference_id=charge.order_id,
            version_token=f"v-{charge.id}-{charge.state}",
        )
        return payment
