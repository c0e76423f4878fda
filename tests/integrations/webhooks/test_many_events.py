"""One webhook request carrying many events (SendGrid posts arrays), through
the real URL: stored all or none, each event deduplicated and processed on
its own, the request answered once."""

import json
import logging
import threading
from datetime import timedelta

import pytest
from django.db import DataError, OperationalError, connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from prometheus_client import REGISTRY

from integrations.models import WebhookEvent, WebhookStatus
from integrations.webhooks.services import webhook_events_replay, webhook_events_sweep
from tests.factories import ProviderAccountFactory
from tests.integrations.webhooks import adapters, handlers
from tests.integrations.webhooks.conftest import sw_headers

SLUG = "many-pay"
TABLE = WebhookEvent._meta.db_table

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _many_events_adapter(settings):
    payments = {**settings.SWITCHYARD_ADAPTERS["payments"], "many": adapters.PATH}
    settings.SWITCHYARD_ADAPTERS = {
        **settings.SWITCHYARD_ADAPTERS,
        "payments": payments,
    }


@pytest.fixture
def many_account(db):
    return ProviderAccountFactory(slug=SLUG, provider="many")


def event(key: str, event_type: str = "payment.succeeded", **data: object) -> dict:
    return {
        "id": key,
        "type": event_type,
        "timestamp": "2025-01-02T03:04:05Z",
        "data": data,
    }


def send(post_webhook, events: list[dict], **header_options: object):
    body = json.dumps(events).encode()
    return post_webhook(SLUG, body, sw_headers(body, **header_options))


def _messages(result: str) -> float:
    value = REGISTRY.get_sample_value(
        "switchyard_webhook_messages_total", {"account": SLUG, "result": result}
    )
    return value or 0.0


def _stored() -> dict[str, WebhookEvent]:
    return {e.dedupe_key: e for e in WebhookEvent.objects.all()}


def _answer(stored: int, duplicates: int) -> dict:
    return {
        "received": True,
        "messages": stored + duplicates,
        "stored": stored,
        "duplicates": duplicates,
    }


def test_every_event_is_stored_once_and_processed_once(
    many_account, post_webhook, django_capture_on_commit_callbacks, caplog
):
    events = [event("evt_b", id="pay_1"), event("evt_a", "payment.failed"), event("c")]
    body = json.dumps(events).encode()
    before = _messages("stored")
    with (
        caplog.at_level(logging.INFO, logger="integrations.webhooks.views"),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        response = post_webhook(SLUG, body, sw_headers(body, webhook_id="msg_many"))
    assert response.status_code == 200
    assert response.json() == _answer(stored=3, duplicates=0)
    assert len(callbacks) == 1
    rows = _stored()
    assert set(rows) == {"evt_b", "evt_a", "c"}
    assert rows["evt_a"].event_type == "payment.failed"
    assert rows["evt_b"].payload == events[0]
    assert rows["c"].occurred_at.isoformat() == "2025-01-02T03:04:05+00:00"
    for row in rows.values():
        assert row.account == many_account
        assert row.status == WebhookStatus.PROCESSED and row.attempts == 1
        assert row.correlation_id == response["X-Correlation-ID"]
        assert row.headers["webhook-id"] == "msg_many"
        assert "webhook-signature" not in row.headers
    # The request's first event keeps the whole body; the others their own.
    assert bytes(rows["evt_b"].raw_body) == body
    assert json.loads(bytes(rows["evt_a"].raw_body)) == events[1]
    assert json.loads(bytes(rows["c"].raw_body)) == events[2]
    assert sorted(call[0] for call in handlers.calls) == sorted(
        row.pk for row in rows.values()
    )
    assert _messages("stored") == before + 3
    [line] = [r for r in caplog.records if r.message == "webhook messages received"]
    assert (line.messages, line.stored, line.duplicates) == (3, 3, 0)


def test_the_same_request_again_is_all_duplicates_and_processed_no_more(
    many_account, post_webhook, django_capture_on_commit_callbacks
):
    events = [event("evt_1"), event("evt_2"), event("evt_3")]
    with django_capture_on_commit_callbacks(execute=True):
        send(post_webhook, events)
    before = _messages("duplicate")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = send(post_webhook, events)
    assert response.status_code == 200
    assert response.json() == _answer(stored=0, duplicates=3)
    assert callbacks == []
    assert WebhookEvent.objects.count() == 3
    assert len(handlers.calls) == 3
    assert _messages("duplicate") == before + 3


def test_partial_duplicates_store_and_process_only_the_new_events(
    many_account, post_webhook, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send(post_webhook, [event("evt_a"), event("evt_b")])
    first_ids = {e.pk for e in WebhookEvent.objects.all()}
    handlers.calls.clear()
    events = [event("evt_a"), event("evt_c"), event("evt_b"), event("evt_d")]
    body = json.dumps(events).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(SLUG, body, sw_headers(body))
    assert response.json() == _answer(stored=2, duplicates=2)
    rows = _stored()
    assert set(rows) == {"evt_a", "evt_b", "evt_c", "evt_d"}
    assert {rows["evt_a"].pk, rows["evt_b"].pk} == first_ids
    assert {call[0] for call in handlers.calls} == {rows["evt_c"].pk, rows["evt_d"].pk}
    # The first event was already stored: the body goes to the first new one.
    assert bytes(rows["evt_c"].raw_body) == body
    assert json.loads(bytes(rows["evt_d"].raw_body)) == events[3]


def test_many_events_travel_as_one_insert(many_account, post_webhook):
    events = [event(f"evt_{n}") for n in range(50)]
    with CaptureQueriesContext(connection) as queries:
        response = send(post_webhook, events)
    assert response.json() == _answer(stored=50, duplicates=0)
    inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    assert "ON CONFLICT" in inserts[0] and "RETURNING" in inserts[0]
    assert WebhookEvent.objects.count() == 50


def test_more_events_than_one_statement_holds_are_stored_whole(
    many_account, post_webhook
):
    # SQLite takes ~60 rows a statement: this request needs several.
    events = [event(f"evt_{n:03}") for n in range(150)]
    assert send(post_webhook, events).json() == _answer(stored=150, duplicates=0)
    again = send(post_webhook, [*events, event("evt_new")])
    assert again.json() == _answer(stored=1, duplicates=150)
    assert WebhookEvent.objects.count() == 151


def test_the_same_key_twice_in_one_request_is_stored_once(
    many_account, post_webhook, django_capture_on_commit_callbacks
):
    events = [event("evt_x", n=1), event("evt_y"), event("evt_x", n=2)]
    with django_capture_on_commit_callbacks(execute=True):
        response = send(post_webhook, events)
    assert response.status_code == 200
    assert response.json() == _answer(stored=2, duplicates=1)
    rows = _stored()
    assert set(rows) == {"evt_x", "evt_y"}
    assert rows["evt_x"].payload["data"] == {"n": 1}  # the first one wins
    assert len(handlers.calls) == 2


def test_an_empty_array_is_2xx_and_stores_nothing(many_account, post_webhook):
    response = send(post_webhook, [])
    assert response.status_code == 200
    assert response.json() == _answer(stored=0, duplicates=0)
    assert WebhookEvent.objects.count() == 0


def test_one_event_in_an_array_takes_the_single_event_path(many_account, post_webhook):
    response = send(post_webhook, [event("evt_only")])
    assert response.json() == {"received": True, "duplicate": False}
    assert send(post_webhook, [event("evt_only")]).json()["duplicate"] is True
    assert WebhookEvent.objects.get().dedupe_key == "evt_only"


def test_more_events_than_the_cap_is_413_and_stores_nothing(
    many_account, post_webhook, settings
):
    settings.WEBHOOK_MAX_MESSAGES_PER_REQUEST = 3
    response = send(post_webhook, [event(f"evt_{n}") for n in range(4)])
    assert response.status_code == 413
    error = response.json()["error"]
    assert set(error) == {"type", "code", "message", "param"}
    assert error["code"] == "too_many_messages" and "3" in error["message"]
    assert WebhookEvent.objects.count() == 0
    at_the_cap = send(post_webhook, [event(f"evt_{n}") for n in range(3)])
    assert at_the_cap.json() == _answer(stored=3, duplicates=0)


def test_a_forged_signature_stores_nothing(many_account, post_webhook):
    events = [event("evt_1"), event("evt_2")]
    response = send(post_webhook, events, secret="whsec_b3RoZXJzZWNyZXQ=")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert WebhookEvent.objects.count() == 0


def test_one_malformed_event_refuses_the_whole_request(many_account, post_webhook):
    events = [event("evt_1"), {"type": "payment.succeeded"}, event("evt_3")]
    response = send(post_webhook, events)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    assert WebhookEvent.objects.count() == 0


def _fail_after_inserting(execute, sql, params, many, context):
    # The rows are written, then the connection "fails": only the
    # transaction's rollback can keep them out.
    result = execute(sql, params, many, context)
    if sql.startswith("INSERT") and TABLE in sql:
        raise OperationalError("server closed the connection unexpectedly")
    return result


def test_a_database_failure_mid_way_stores_nothing_and_asks_for_a_retry(
    many_account, post_webhook, django_capture_on_commit_callbacks
):
    events = [event("evt_1"), event("evt_2"), event("evt_3")]
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        connection.execute_wrapper(_fail_after_inserting),
    ):
        response = send(post_webhook, events)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert response["Retry-After"]
    assert WebhookEvent.objects.count() == 0
    assert callbacks == [] and handlers.calls == []
    # The sender's retry stores all of them.
    with django_capture_on_commit_callbacks(execute=True):
        retry = send(post_webhook, events)
    assert retry.json() == _answer(stored=3, duplicates=0)
    assert len(handlers.calls) == 3


def test_an_event_the_database_cannot_store_fails_the_whole_request(
    many_account, post_webhook
):
    # The database refuses the insert (NUL, once the trigger here, is now
    # stored safely: see the next test).
    def refuse(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("INSERT") and TABLE in sql:
            raise DataError("refused by the database")
        return execute(sql, params, many, context)

    events = [event("evt_1"), event("evt_2"), event("evt_3")]
    with connection.execute_wrapper(refuse):
        response = send(post_webhook, events)
    assert response.status_code == 503
    assert WebhookEvent.objects.count() == 0


@pytest.mark.postgres
def test_an_event_with_text_postgresql_refuses_is_stored_safely(
    many_account, post_webhook
):
    # jsonb refuses \u0000 and lone surrogates: replaced, never a 5xx.
    events = [event("evt_1"), event("evt_2", note="nul \u0000 \ud800")]
    response = send(post_webhook, events)
    assert response.json() == _answer(stored=2, duplicates=0)
    assert _stored()["evt_2"].payload["data"]["note"] == "nul \ufffd \ufffd"


def test_each_event_is_replayed_and_swept_on_its_own(
    many_account, post_webhook, django_capture_on_commit_callbacks
):
    # The test transaction never commits: the events wait, as if the
    # broker had lost them.
    send(post_webhook, [event("evt_1"), event("evt_2"), event("evt_3")])
    rows = _stored()
    assert {r.status for r in rows.values()} == {WebhookStatus.RECEIVED}
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_events_replay(event_ids=[rows["evt_2"].pk]) == 1
    assert [call[0] for call in handlers.calls] == [rows["evt_2"].pk]
    later = rows["evt_1"].received_at + timedelta(hours=1)
    assert webhook_events_sweep(now=later) == 2
    assert {call[0] for call in handlers.calls} == {r.pk for r in rows.values()}
    assert len(handlers.calls) == 3


def _in_threads(target, count: int) -> list:
    results: list = [None] * count
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = target(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_requests_store_each_event_exactly_once(post_webhook):
    ProviderAccountFactory(slug=SLUG, provider="many")
    events = [event(f"evt_{n}") for n in range(20)]
    body = json.dumps(events).encode()
    headers = sw_headers(body, webhook_id="msg_race")

    answers = _in_threads(lambda _i: post_webhook(SLUG, body, headers), 4)
    assert [a.status_code for a in answers] == [200] * 4
    assert sum(a.json()["stored"] for a in answers) == 20
    assert sum(a.json()["duplicates"] for a in answers) == 60
    assert sorted(_stored()) == sorted(e["id"] for e in events)
    processed = [call[0] for call in handlers.calls]
    assert len(processed) == len(set(processed)) == 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_overlapping_requests_in_opposite_orders_do_not_deadlock(post_webhook):
    # Rows locked in request order would deadlock here now and then; a few
    # rounds make that show.
    ProviderAccountFactory(slug=SLUG, provider="many")
    for round_no in range(5):
        events = [event(f"evt_{round_no}_{n:02}") for n in range(30)]
        orders = [events, events[::-1]]

        answers = _in_threads(lambda i, orders=orders: send(post_webhook, orders[i]), 2)
        assert [a.status_code for a in answers] == [200, 200]
        assert sum(a.json()["stored"] for a in answers) == 30
    assert WebhookEvent.objects.count() == 150


def test_staff_find_every_event_of_a_request_by_its_correlation_id(
    many_account, post_webhook, client, django_user_model
):
    events = [event("evt_1"), event("evt_2"), event("evt_3")]
    response = send(post_webhook, events)
    send(post_webhook, [event("evt_other_1"), event("evt_other_2")])
    client.force_login(
        django_user_model.objects.create_superuser("staff", "s@example.com", "pw")
    )
    page = client.get(
        reverse("admin:integrations_webhookevent_changelist"),
        {"q": response["X-Correlation-ID"]},
    )
    found = page.context["cl"].result_list
    assert sorted(e.dedupe_key for e in found) == ["evt_1", "evt_2", "evt_3"]
    [holder] = [e for e in found if bytes(e.raw_body) == json.dumps(events).encode()]
    assert holder.dedupe_key == "evt_1"
