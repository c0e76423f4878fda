"""A fake Stripe: PaymentIntents created, captured, retrieved and searched.

Follows Stripe's API reference for PaymentIntents (create with ``confirm``,
capture, retrieve, search by metadata) and answers with the published example
object tests/fixtures/stripe/payment_intent.json (stripe/openapi
fixtures3.json); errors from tests/fixtures/stripe/errors.json. Idempotency as
Stripe documents it: a POST with a seen ``Idempotency-Key`` is answered with
the first result and performs nothing. Search sees an intent only once the
fake's index has caught up (``catch_up``): Stripe's search data lags too.
"""

import copy
import json
import re
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from integrations.models import ProviderAccount
from integrations.testing.faultserver import Behaviour, RecordedRequest, respond
from payments.providers.stripe import IDEMPOTENCY_METADATA_KEY, StripeAdapter
from tests.factories import ProviderAccountFactory
from tests.payments.fakes.base import FAST, Charge, FakeGateway

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "stripe"
INTENT = json.loads((FIXTURES / "payment_intent.json").read_text())
ERRORS = json.loads((FIXTURES / "errors.json").read_text())
_CAPTURE = re.compile(r"/v1/payment_intents/([^/]+)/capture")
_ONE = re.compile(r"/v1/payment_intents/([^/]+)")
_KEY_QUERY = re.compile(r":'((?:[^'\\]|\\.)*)'")


class FakeStripe(FakeGateway):
    provider = "stripe"

    def account(self) -> ProviderAccount:
        return ProviderAccountFactory(
            provider="stripe",
            slug="fault-stripe",
            mode="test",
            settings=dict(FAST),
            credentials={"secret_key": "sk_test_51FaultMatrixKey0000000000"},
        )

    def point_at(self, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
        monkeypatch.setattr(StripeAdapter, "api_base", url)

    def source(
        self, *, order_id: str, amount: int, currency: str, capture: bool
    ) -> str:
        return "pm_card_visa"

    def operation(self, request: RecordedRequest) -> str:
        if request.method == "POST" and request.path == "/v1/payment_intents":
            return "create"
        if request.method == "POST" and _CAPTURE.fullmatch(request.path):
            return "capture"
        return "read"

    def decline(self, operation: str) -> Behaviour:
        return respond(402, json=ERRORS["generic_decline"])

    def handle(self, request: RecordedRequest) -> Behaviour:
        key = request.header("Idempotency-Key") or ""
        if request.method == "POST" and key in self.replies:
            return self.replies[key]
        answer = self._handle(request)
        if request.method == "POST" and key and answer.status < 500:
            self.replies[key] = answer
        return answer

    def _handle(self, request: RecordedRequest) -> Behaviour:
        operation = self.operation(request)
        if operation == "create":
            return self._create(parse_qs(request.body.decode()))
        if operation == "capture":
            match = _CAPTURE.fullmatch(request.path)
            assert match is not None
            return self._capture(match.group(1))
        if request.path == "/v1/payment_intents/search":
            return self._search(parse_qs(request.query).get("query", [""])[0])
        match = _ONE.fullmatch(request.path)
        charge = self.charges.get(match.group(1)) if match else None
        if charge is None:
            return respond(404, json=ERRORS["resource_missing"])
        return respond(200, json=self._intent(charge))

    def _create(self, form: dict[str, list[str]]) -> Behaviour:
        manual = form.get("capture_method") == ["manual"]
        charge = Charge(
            id=self.new_id("pi_"),
            order_id=form["metadata[order_id]"][0],
            amount=int(form["amount"][0]),
            currency=form["currency"][0],
            state="authorized" if manual else "captured",
            key=form[f"metadata[{IDEMPOTENCY_METADATA_KEY}]"][0],
        )
        self.charges[charge.id] = charge
        self.performed["create"] += 1
        return respond(200, json=self._intent(charge))

    def _capture(self, intent_id: str) -> Behaviour:
        charge = self.charges.get(intent_id)
        if charge is None:
            return respond(404, json=ERRORS["resource_missing"])
        if charge.state != "authorized":
            return respond(400, json=ERRORS["payment_intent_unexpected_state"])
        charge.state = "captured"
        self.performed["capture"] += 1
        return respond(200, json=self._intent(charge))

    def _search(self, query: str) -> Behaviour:
        match = _KEY_QUERY.search(query)
        key = match.group(1) if match else ""
        found = [
            self._intent(c)
            for c in self.charges.values()
            if c.key == key and c.id in self.indexed
        ]
        body = {
            "object": "search_result",
            "url": "/v1/payment_intents/search",
            "has_more": False,
            "next_page": None,
            "data": found[:1],
        }
        return respond(200, json=body)

    def _intent(self, charge: Charge) -> dict:
        intent = copy.deepcopy(INTENT)
        captured = charge.state == "captured"
        intent.update(
            id=charge.id,
            amount=charge.amount,
            currency=charge.currency,
            status="succeeded" if captured else "requires_capture",
            amount_capturable=0 if captured else charge.amount,
            amount_received=charge.amount if captured else 0,
            capture_method="automatic" if captured else "manual",
            client_secret=f"{charge.id}_secret_fake",
            metadata={
                "order_id": charge.order_id,
                IDEMPOTENCY_METADATA_KEY: charge.key,
            },
        )
        return intent
