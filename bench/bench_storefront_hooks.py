"""15. Storefront webhooks: deliveries per second to a local receiver that
answers in 5 ms (``delivery_send``: claim, signed POST through the endpoint's
client, settle), against raw ``requests`` posting the same bodies to the same
receiver, interleaved in rounds; and the delivery lag, event committed ->
received, through the outbox subscriber and the delivery task run in this
process one after the other (what a worker does, without the broker's wait).
"""

import time
from typing import Any

from bench.common import mean, note, pct, report

LATENCY = 0.005
ROUNDS = 5
PER_ROUND = 60
LAG_EVENTS = 100
# Masking a stored answer with this many endpoints' secrets known.
MASK_ENDPOINTS = 1000
MASK_CALLS = 300
TARGET = 0.5
HOOK_PATH = "/hooks"


def _receiver() -> Any:
    from integrations.testing.faultserver import FaultServer, respond

    class StampingReceiver(FaultServer):
        """Notes when each ``webhook-id`` arrived (for the lag)."""

        arrived: dict[str, float]

        def _record(self, request: Any) -> None:
            self.arrived[request.header("webhook-id") or ""] = time.perf_counter()

    server = StampingReceiver()
    server.arrived = {}
    server.start()
    server.route("POST", HOOK_PATH, respond(200, latency=LATENCY))
    return server


def _rows(endpoint: Any, count: int) -> list[int]:
    """``count`` pending deliveries made by the outbox subscriber."""
    from django.db import transaction

    from integrations.events import event_emit
    from storefront_hooks.models import WebhookDelivery
    from storefront_hooks.services import event_fan_out

    ids = []
    with transaction.atomic():
        for n in range(count):
            payload = {"payment_id": f"pay_{n}", "order_id": f"ord_{n}", "amount": n}
            event = event_emit(name="payment.captured", payload=payload)
            event_fan_out(event)
            ids.append(WebhookDelivery.objects.get(event=event).pk)
    return ids


def _delivered(ids: list[int]) -> float:
    from storefront_hooks.services import delivery_send

    start = time.perf_counter()
    for delivery_id in ids:
        assert delivery_send(delivery_id=delivery_id) == "delivered", delivery_id
    return time.perf_counter() - start


def _raw(session: Any, url: str, bodies: list[str]) -> float:
    headers = {"Content-Type": "application/json"}
    start = time.perf_counter()
    for body in bodies:
        response = session.post(url, data=body.encode(), headers=headers)
        assert response.status_code == 200, response.status_code
    return time.perf_counter() - start


def _lags(endpoint: Any, receiver: Any) -> list[float]:
    """Seconds from each event's commit to its arrival at the receiver."""
    from django.db import transaction

    from integrations.events import event_delivery_run, event_emit
    from integrations.models import EventDelivery
    from storefront_hooks.models import WebhookDelivery
    from storefront_hooks.services import delivery_send

    lags = []
    for n in range(LAG_EVENTS):
        with transaction.atomic():
            event = event_emit(name="payment.captured", payload={"order_id": f"l{n}"})
        committed = time.perf_counter()
        for outbox in EventDelivery.objects.filter(event=event):
            event_delivery_run(delivery_id=outbox.pk)
        delivery = WebhookDelivery.objects.get(event=event)
        delivery_send(delivery_id=delivery.pk)
        lags.append(receiver.arrived[delivery.public_id] - committed)
    return lags


def _answers() -> list[str]:
    """Answers as receivers give them, up to the 1 KB kept: plain JSON, a
    form-encoded echo (escapes to undo), one cut off mid-word."""
    plain = '{"ok":false,"error":"signature mismatch","detail":"%s"}' % ("x" * 900)
    form = "id=msg_1&sig=v1%2Cabc%2Bdef%2F%3D&" + "field=value%20here&" * 50
    return [plain, form[:1024], ("lorem ipsum " * 90)[:1024]]


def _masking_ms(url: str) -> float:
    """Milliseconds ``staff_excerpt`` spends on one answer with
    ``MASK_ENDPOINTS`` endpoints' secrets known (the registry's forms)."""
    from django.db import transaction

    from integrations.secrets_registry import known_secrets
    from storefront_hooks.models import WebhookEndpoint
    from storefront_hooks.services import endpoint_create
    from storefront_hooks.services.excerpt import staff_excerpt

    more = MASK_ENDPOINTS - WebhookEndpoint.objects.count()
    with transaction.atomic():  # one reload of the registry, at the commit
        for _ in range(max(more, 0)):
            endpoint_create(url=url, event_types=["shipment.delivered"])
    known = len(known_secrets(fresh=True))
    answers = _answers()
    staff_excerpt(answers[0])  # warm-up: the per-copy work
    start = time.perf_counter()
    for n in range(MASK_CALLS):
        staff_excerpt(answers[n % len(answers)])
    spent = (time.perf_counter() - start) / MASK_CALLS * 1e3
    start = time.perf_counter()
    for _ in range(MASK_CALLS):
        known_secrets(fresh=True)  # the registry's own look at its stamp
    stamp = (time.perf_counter() - start) / MASK_CALLS * 1e3
    note(
        f"masking one answer: {spent:.3f} ms with {MASK_ENDPOINTS} endpoints "
        f"({known} secret forms known), of which {stamp:.3f} ms the registry's "
        f"stamp check; mean of {MASK_CALLS}"
    )
    return spent


def run() -> bool:
    import requests
    from django.test import override_settings

    from storefront_hooks.models import WebhookDelivery
    from storefront_hooks.services import endpoint_create

    receiver = _receiver()
    subscribers = {"payment.*": ["storefront_hooks.services.event_fan_out"]}
    try:
        with override_settings(
            STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES=True,
            SWITCHYARD_EVENT_SUBSCRIBERS=subscribers,
        ):
            url = receiver.url_for(HOOK_PATH)
            endpoint, _secret = endpoint_create(url=url, event_types=["payment.*"])
            session = requests.Session()
            session.trust_env = False  # as the endpoint client
            _delivered(_rows(endpoint, 5))  # warm-up: connections, clients
            hooks: list[float] = []
            raw: list[float] = []
            for _ in range(ROUNDS):
                ids = _rows(endpoint, PER_ROUND)
                bodies = list(
                    WebhookDelivery.objects.filter(pk__in=ids).values_list(
                        "body", flat=True
                    )
                )
                raw.append(_raw(session, url, bodies))
                hooks.append(_delivered(ids))
            lags = _lags(endpoint, receiver)
            session.close()
            _masking_ms(url)
    finally:
        receiver.stop()
    rate, baseline = PER_ROUND / mean(hooks), PER_ROUND / mean(raw)
    ratio = rate / baseline
    report(
        "storefront webhooks delivered",
        f"{rate:.0f} events/s",
        f"raw requests {baseline:.0f}/s",
        ratio,
        f">= {TARGET}",
    )
    note(
        f"lag commit -> received p50 {pct(lags, 50) * 1e3:.1f} ms "
        f"p99 {pct(lags, 99) * 1e3:.1f} ms over {LAG_EVENTS} events (outbox "
        "subscriber and delivery task run inline: no broker wait)"
    )
    note(
        f"{ROUNDS} interleaved rounds of {PER_ROUND}; the receiver answers in "
        f"{LATENCY * 1e3:.0f} ms"
    )
    return ratio >= TARGET
