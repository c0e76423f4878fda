"""The payments floor that counts a payment's rows: the bare API view plus
every row a captured payment writes (idempotency record, payment, attempt,
the sandbox gateway's charge, outbox event and delivery, and their updates)
in the fewest durable statements the design allows: one before the call,
the gateway's own, one after it. No validation, risk check, breaker, limiter
or event task: what PostgreSQL and the request cycle alone cost."""

import functools
import itertools
import uuid
from typing import Any

from django.db import connection
from django.db.models import Model
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.db import execute_one
from integrations.models import Event, EventDelivery, IdempotencyRecord
from integrations.public_ids import new_public_id
from integrations.row_sql import field_values
from payments.models import Payment, PaymentAttempt, SandboxCharge

_counter = itertools.count()


def _insert(instance: Model, exprs: dict[str, str]) -> tuple[str, list[Any], dict]:
    """An INSERT of ``instance`` (RETURNING its pk) with some columns given as
    SQL expressions; its values, and each column's position among them."""
    meta = instance._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    values = field_values(fields, instance, add=True, conn=connection)
    columns, marks, params, where = [], [], [], {}
    for field, value in zip(fields, values, strict=True):
        columns.append(f'"{field.column}"')
        if field.column in exprs:
            marks.append(exprs[field.column])
            continue
        where[field.attname] = len(params)
        marks.append("%s")
        params.append(value)
    sql = (
        f'INSERT INTO "{meta.db_table}" ({", ".join(columns)}) '  # noqa: S608
        f'VALUES ({", ".join(marks)}) RETURNING "{meta.pk.column}"'
    )
    return sql, params, where


@functools.cache
def _statements(account_pk: int) -> dict[str, Any]:
    """The three statements and their value templates, built once."""
    record = IdempotencyRecord(
        owner="bench-floor", key="k", method="POST", path="/", request_hash=""
    )
    payment = Payment(
        order_id="o", amount=1050, currency="EUR", idempotency_key="k",
        account_id=account_pk, status="processing", capture_requested=True,
    )  # fmt: skip
    attempt = PaymentAttempt(
        payment_id=0, account_id=account_pk, operation="authorize",
        idempotency_key="k",
    )  # fmt: skip
    charge = SandboxCharge(
        account_id=account_pk, kind="charge", reference="r", idempotency_key="k",
        status="captured", amount=1050, currency="EUR", amount_captured=1050,
    )  # fmt: skip
    event = Event(name="payment.captured", subject="s", payload={"amount": 1050})
    delivery = EventDelivery(event_id=0, subscriber="bench.floor")
    i, i_params, i_at = _insert(record, {})
    p, p_params, p_at = _insert(payment, {})
    a, a_params, a_at = _insert(attempt, {"payment_id": "(SELECT id FROM p)"})
    e, e_params, e_at = _insert(event, {})
    d, d_params, d_at = _insert(delivery, {"event_id": "(SELECT id FROM e)"})
    # Table and column names from the models' own metadata.
    # Table and column names from the models' own metadata.
    before = (
        f"WITH i AS ({i}), p AS ({p}), a AS ({a}) "  # noqa: S608
        "SELECT (SELECT id FROM i), (SELECT id FROM p), (SELECT id FROM a)"
    )
    after = (
        "WITH ua AS (UPDATE payments_paymentattempt SET outcome = 'succeeded', "  # noqa: S608
        "provider_reference = %s, finished_at = now() WHERE id = %s), "
        "up AS (UPDATE payments_payment SET status = 'captured', "
        "amount_authorized = amount, amount_captured = amount, "
        "provider_reference = %s, updated_at = now() WHERE id = %s), "
        f"e AS ({e}), d AS ({d}), "
        "ui AS (UPDATE integrations_idempotencyrecord SET state = 'completed', "
        "response_status = 201, response_body = %s, completed_at = now() "
        "WHERE id = %s) SELECT 1"
    )
    return {
        "before": before,
        "before_params": (i_params, i_at, p_params, p_at, (a_params, a_at)),
        "charge": _insert(charge, {}),
        "after": after,
        "after_params": ((e_params, e_at), (d_params, d_at)),
    }


class PaymentRowsView(APIView):
    """POST the payment body: its rows in three durable statements."""

    required_scopes = ()
    account_pk = 0  # set by the bench before its first request

    def post(self, request: Request) -> Response:
        request.data  # noqa: B018 - parsed as the payment's body is
        plan = _statements(self.account_pk)
        key = f"floor-{next(_counter)}-{uuid.uuid4().hex}"
        now = timezone.now()  # fresh times: index keys grow as a payment's do
        i_params, i_at, p_params, p_at, attempt = plan["before_params"]
        i_params, p_params = _fresh(i_params, i_at, now), _fresh(p_params, p_at, now)
        a_params = _fresh(*attempt, now)
        i_params[i_at["key"]] = key
        p_params[p_at["idempotency_key"]] = key
        public_id = p_params[p_at["public_id"]] = new_public_id("pay_")
        ids = execute_one(plan["before"], [*i_params, *p_params, *a_params])
        assert ids is not None
        charge_sql, charge_params, charge_at = plan["charge"]
        charge_params = _fresh(charge_params, charge_at, now)
        charge_params[charge_at["reference"]] = key[-32:]  # the gateway's id
        charge_params[charge_at["idempotency_key"]] = key
        execute_one(charge_sql, charge_params)
        body = {"id": public_id, "status": "captured", "at": str(timezone.now())}
        e_params, d_params = (_fresh(*pair, now) for pair in plan["after_params"])
        reference = key[-32:]
        params = [reference, ids[2], reference, ids[1], *e_params, *d_params]
        execute_one(plan["after"], [*params, _json(body), ids[0]])
        return Response(body, status=201)


def _fresh(params: list[Any], at: dict[str, int], now: Any) -> list[Any]:
    """A copy of a template's values with its timestamps set to ``now``."""
    values = list(params)
    for name in ("created_at", "updated_at"):
        if name in at:
            values[at[name]] = now
    return values


def _json(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value)
