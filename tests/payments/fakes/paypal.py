"""A fake PayPal: OAuth token, Orders v2 (get, capture, authorize) and
Payments v2 (capture an authorization).

Follows PayPal's published Orders v2 and Payments v2 specs and answers with
their examples, tests/fixtures/paypal/order_approved_capture.json and
error_*.json. Idempotency as PayPal documents it: a POST with a seen
``PayPal-Request-Id`` is answered with the first result; an order can be
captured (or authorized) once — again under another request id is a 422
ORDER_ALREADY_CAPTURED (ORDER_ALREADY_AUTHORIZED).
"""

import copy
import json
import re
from pathlib import Path

import pytest

from integrations.models import ProviderAccount
from integrations.testing.faultserver import Behaviour, RecordedRequest, respond
from payments.providers.paypal import PayPalAdapter
from tests.factories import ProviderAccountFactory
from tests.payments.fakes.base import FAST, Charge, FakeGateway

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "paypal"


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


ORDER = _load("order_approved_capture.json")
_ORDER_ACTION = re.compile(r"/v2/checkout/orders/([A-Z0-9]+)/(capture|authorize)")
_ORDER = re.compile(r"/v2/checkout/orders/([A-Z0-9]+)")
_AUTH_CAPTURE = re.compile(r"/v2/payments/authorizations/([A-Z0-9]+)/capture")


def _already(issue: str) -> dict:
    body = _load("error_instrument_declined.json")
    body["details"] = [{"issue": issue, "description": "Already done."}]
    return body


class FakePayPal(FakeGateway):
    provider = "paypal"

    def __init__(self) -> None:
        super().__init__()
        # PayPal order id -> (intent, Charge or None until captured/authorized)
        self.orders: dict[str, dict] = {}

    def account(self) -> ProviderAccount:
        return ProviderAccountFactory(
            provider="paypal",
            slug="fault-paypal",
            mode="test",
            settings=dict(FAST),
            credentials={"client_id": "fault-client", "client_secret": "fault-secret"},
        )

    def point_at(self, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
        monkeypatch.setattr(PayPalAdapter, "base_urls", {"test": url, "live": url})

    def source(
        self, *, order_id: str, amount: int, currency: str, capture: bool
    ) -> str:
        """The order the buyer approved at PayPal (created by the checkout)."""
        paypal_id = self.new_id("").upper()
        self.orders[paypal_id] = {
            "intent": "CAPTURE" if capture else "AUTHORIZE",
            "order_id": order_id,
            "amount": amount,
            "currency": currency,
            "auth_id": self.new_id("AUTH").upper(),
            "capture_id": self.new_id("CAP").upper(),
        }
        return paypal_id

    def operation(self, request: RecordedRequest) -> str:
        if request.method != "POST":
            return "read"
        if _ORDER_ACTION.fullmatch(request.path):
            return "create"
        if _AUTH_CAPTURE.fullmatch(request.path):
            return "capture"
        return "read"

    def decline(self, operation: str) -> Behaviour:
        return respond(422, json=_load("error_instrument_declined.json"))

    def handle(self, request: RecordedRequest) -> Behaviour:
        key = request.header("PayPal-Request-Id") or ""
        if request.method == "POST" and key in self.replies:
            return self.replies[key]
        answer = self._handle(request)
        if key and request.method == "POST" and answer.status < 500:
            self.replies[key] = answer
        return answer

    def _handle(self, request: RecordedRequest) -> Behaviour:
        if request.path == "/v1/oauth2/token":
            return respond(200, json=_load("oauth_token.json"))
        action = _ORDER_ACTION.fullmatch(request.path)
        if action and request.method == "POST":
            return self._order_action(action.group(1), action.group(2))
        auth = _AUTH_CAPTURE.fullmatch(request.path)
        if auth:
            return self._capture_authorization(auth.group(1))
        one = _ORDER.fullmatch(request.path)
        if one and one.group(1) in self.orders:
            return respond(200, json=self._order(one.group(1)))
        return respond(404, json=_load("error_resource_not_found.json"))

    def _order_action(self, paypal_id: str, action: str) -> Behaviour:
        order = self.orders.get(paypal_id)
        if order is None:
            return respond(404, json=_load("error_resource_not_found.json"))
        if paypal_id in self.charges:
            issue = (
                f"ORDER_ALREADY_{'CAPTURED' if action == 'capture' else 'AUTHORIZED'}"
            )
            return respond(422, json=_already(issue))
        self.charges[paypal_id] = Charge(
            id=paypal_id,
            order_id=order["order_id"],
            amount=order["amount"],
            currency=order["currency"],
            state="captured" if action == "capture" else "authorized",
            key=paypal_id,
        )
        self.performed["create"] += 1
        return respond(201, json=self._order(paypal_id))

    def _capture_authorization(self, auth_id: str) -> Behaviour:
        paypal_id = next(
            (k for k, o in self.orders.items() if o["auth_id"] == auth_id), ""
        )
        charge = self.charges.get(paypal_id)
        if charge is None:
            return respond(404, json=_load("error_resource_not_found.json"))
        if charge.state != "authorized":
            return respond(422, json=_already("AUTHORIZATION_ALREADY_CAPTURED"))
        charge.state = "captured"
        self.performed["capture"] += 1
        return respond(201, json=self._capture_object(paypal_id))

    def _money(self, paypal_id: str) -> dict[str, str]:
        order = self.orders[paypal_id]
        return {
            "currency_code": order["currency"],
            "value": f"{order['amount'] / 100:.2f}",
        }

    def _capture_object(self, paypal_id: str) -> dict:
        return {
            "id": self.orders[paypal_id]["capture_id"],
            "status": "COMPLETED",
            "amount": self._money(paypal_id),
            "final_capture": True,
        }

    def _order(self, paypal_id: str) -> dict:
        order = self.orders[paypal_id]
        body = copy.deepcopy(ORDER)
        unit = body["purchase_units"][0]
        unit.update(
            reference_id=order["order_id"],
            custom_id=order["order_id"],
            amount=self._money(paypal_id),
        )
        body.update(id=paypal_id, intent=order["intent"], status="APPROVED")
        charge = self.charges.get(paypal_id)
        if charge is not None:
            body["status"] = "COMPLETED"
            unit["payments"] = self._payments(paypal_id, charge)
        return body

    def _payments(self, paypal_id: str, charge: Charge) -> dict:
        order = self.orders[paypal_id]
        captures = [self._capture_object(paypal_id)]
        if order["intent"] == "CAPTURE":
            return {"captures": captures}
        authorization = {
            "id": order["auth_id"],
            "status": "CAPTURED" if charge.state == "captured" else "CREATED",
            "amount": self._money(paypal_id),
        }
        if charge.state == "captured":
            return {"authorizations": [authorization], "captures": captures}
        return {"authorizations": [authorization]}
