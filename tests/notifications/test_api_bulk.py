"""The storefront bulk-send API: creating with an Idempotency-Key (replay,
422, 409 in flight), every recipient checked before anything is stored (a
400 naming the row), the body bound (413), progress and outcomes once the
job has worked, listing by cursor, cancel (409 once finished), scopes, 404s
and the OpenAPI schema."""

import pytest
from rest_framework.test import APIClient

from integrations.batch import services as batch_services
from integrations.models import BatchJob
from notifications import api_bulk
from notifications.api_examples import BULK_CREATE_REQUEST
from notifications.models import BulkRecipient, BulkSend, EmailMessage, SandboxEmail
from notifications.serializers import BULK_MAX_BODY_BYTES, BULK_MAX_RECIPIENTS
from notifications.services import suppression_add
from tests.factories import ApiKeyFactory
from tests.notifications.bulk_work import work_bulk_job

BULK = "/api/v1/notifications/bulk-sends/"
pytestmark = pytest.mark.django_db
NEWS = BULK_CREATE_REQUEST["context"]


@pytest.fixture(autouse=True)
def _no_tasks(monkeypatch) -> None:
    """The tests work the job themselves."""
    monkeypatch.setattr(batch_services, "async_task", lambda *a, **kw: None)


def _client(*scopes: str) -> APIClient:
    key = ApiKeyFactory(scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


@pytest.fixture
def api() -> APIClient:
    return _client("email:send", "email:read")


def _create(api: APIClient, body: dict, key: str | None = "k-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(BULK, body, format="json", **headers)


def _body(*emails: str, **changes) -> dict:
    rows = [{"email": e, "context": {"first_name": e[0].upper()}} for e in emails]
    return {**BULK_CREATE_REQUEST, "recipients": rows, **changes}


def _work(public_id: str) -> None:
    work_bulk_job(BulkSend.objects.get(public_id=public_id).job_id)


def test_create_then_the_job_sends_each_recipient_once(api, email_accounts) -> None:
    suppression_add(address="bob@example.com", reason="complaint", source="test")
    body = _body("ada@example.com", "ADA@example.com", "bob@example.com", "cy@x.org")
    created = _create(api, body)
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["id"].startswith("bulk_")
    assert (data["status"], data["duplicates"]) == ("running", 1)
    assert data["progress"]["total"] == 3
    assert data["outcomes"] == {"pending": 3}
    _work(data["id"])
    detail = api.get(f"{BULK}{data['id']}/").json()
    assert detail["status"] == "done"
    assert detail["outcomes"] == {"sent": 2, "suppressed": 1}
    progress = detail["progress"]
    assert (progress["done"], progress["failed"], progress["percent"]) == (3, 0, 100)
    assert progress["finished_at"] is not None
    sent = sorted(SandboxEmail.objects.values_list("to_email", flat=True))
    assert sent == ["ada@example.com", "cy@x.org"]
    assert "Hello A," in EmailMessage.objects.get(to_email="ada@example.com").text_body


def test_the_idempotency_key_is_required_replayed_and_bound_to_the_body(api) -> None:
    missing = _create(api, _body("ada@example.com"), key=None)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "idempotency_key_required"
    first = _create(api, _body("ada@example.com"), key="same")
    again = _create(api, _body("ada@example.com"), key="same")
    assert again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    other = _create(api, _body("bob@example.com"), key="same")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert BulkSend.objects.count() == 1


def test_a_retry_while_the_first_request_runs_is_a_409(api, monkeypatch) -> None:
    original = api_bulk.bulk_send_create
    during: list = []

    def create_with_a_retry(**kwargs):
        during.append(_create(api, _body("ada@example.com"), key="busy"))
        return original(**kwargs)

    monkeypatch.setattr(api_bulk, "bulk_send_create", create_with_a_retry)
    assert _create(api, _body("ada@example.com"), key="busy").status_code == 201
    error = during[0].json()["error"]
    assert during[0].status_code == 409
    assert (error["type"], error["code"]) == (
        "conflict_error",
        "idempotency_key_in_use",
    )
    assert BulkSend.objects.count() == 1


ROW_ERRORS = [
    (
        _body("ada@example.com", "bob@example.com", "not an address"),
        "invalid_email",
        "recipients[2].email",
    ),
    (
        {
            **_body("ada@example.com", "bob@example.com"),
            "context": {"headline": "Sale"},
            "recipients": [
                {"email": "ada@example.com", "context": {"body": "Hi"}},
                {"email": "bob@example.com", "context": {"first_name": "Bob"}},
            ],
        },
        "missing_variable",
        "recipients[1].context.body",
    ),
    (_body("ada@example.com", template="no_such"), "template_not_found", "template"),
    (_body(), "empty", "recipients"),
    (_body("ada@example.com", category="spam"), "invalid_choice", "category"),
    (
        {**_body(), "recipients": [{"email": "a@example.com", "context": "x"}]},
        "not_a_dict",
        "recipients[0].context",
    ),
    ({**_body(), "recipients": ["a@example.com"]}, "invalid", "recipients[0]"),
    ({**_body(), "recipients": [{}]}, "required", "recipients[0].email"),
]


@pytest.mark.parametrize(("body", "code", "param"), ROW_ERRORS)
def test_bad_input_is_a_400_naming_the_row_and_stores_nothing(
    api, body, code, param
) -> None:
    response = _create(api, body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert error["type"] == "invalid_request_error"
    assert set(error) == {"type", "code", "message", "param"}
    assert BulkSend.objects.count() == BulkRecipient.objects.count() == 0
    assert BatchJob.objects.count() == 0


def test_a_quoted_local_part_is_a_400_naming_the_row(api) -> None:
    quoted = '"victim@evil.com,"@example.com'
    response = _create(api, _body("ada@example.com", quoted))
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_email", "recipients[1].email")
    assert "Quoted local parts" in error["message"]
    assert BulkSend.objects.count() == BulkRecipient.objects.count() == 0


def test_the_recipients_and_the_body_are_bounded(api) -> None:
    rows = [{"email": f"r{i}@example.com"} for i in range(BULK_MAX_RECIPIENTS + 1)]
    too_many = _create(api, {**BULK_CREATE_REQUEST, "recipients": rows})
    assert too_many.status_code == 400
    assert too_many.json()["error"]["code"] == "max_length"
    padding = "x" * BULK_MAX_BODY_BYTES
    huge = _create(api, _body("ada@example.com", context={**NEWS, "pad": padding}))
    assert huge.status_code == 413
    error = huge.json()["error"]
    assert (error["type"], error["code"]) == (
        "invalid_request_error",
        "request_too_large",
    )
    assert "send_bulk" in error["message"]
    assert BulkSend.objects.count() == 0


def test_list_pages_by_cursor_without_outcomes(api) -> None:
    ids = [
        _create(api, _body("ada@example.com", name=f"n{n}"), key=f"k{n}").json()["id"]
        for n in range(3)
    ]
    first = api.get(BULK, {"limit": 2}).json()
    assert len(first["results"]) == 2
    assert "outcomes" not in first["results"][0]
    assert first["results"][0]["progress"]["total"] == 1
    second = api.get(BULK, {"limit": 2, "cursor": first["next"]}).json()
    assert [b["id"] for b in first["results"] + second["results"]] == ids[::-1]
    assert second["next"] is None
    assert api.get(BULK, {"cursor": "garbage"}).status_code == 400


def test_cancel_stops_a_send_and_a_finished_one_is_a_409(api, email_accounts) -> None:
    running = _create(api, _body("ada@example.com", "bob@example.com")).json()
    cancelled = api.post(f"{BULK}{running['id']}/cancel/")
    assert cancelled.status_code == 200, cancelled.content
    assert (cancelled.json()["status"], cancelled.json()["cancel_requested"]) == (
        "cancelled",
        True,
    )
    _work(running["id"])
    assert SandboxEmail.objects.count() == 0
    assert api.post(f"{BULK}{running['id']}/cancel/").json()["status"] == "cancelled"

    finished = _create(api, _body("cy@example.com"), key="k-2").json()
    _work(finished["id"])
    conflict = api.post(f"{BULK}{finished['id']}/cancel/")
    assert conflict.status_code == 409
    error = conflict.json()["error"]
    assert (error["type"], error["code"]) == ("conflict_error", "bulk_send_finished")
    assert api.get(f"{BULK}{finished['id']}/").json()["status"] == "done"


def test_unknown_ids_are_404(api) -> None:
    for response in (
        api.get(f"{BULK}bulk_nope/"),
        api.post(f"{BULK}bulk_nope/cancel/"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found_error"


def test_scopes_and_authentication() -> None:
    reader, sender = _client("email:read"), _client("email:send")
    created = _create(sender, _body("ada@example.com"))
    assert created.status_code == 201
    url = f"{BULK}{created.json()['id']}/"
    for response in (
        _create(reader, _body("bob@example.com")),
        reader.post(f"{url}cancel/"),
        sender.get(BULK),
        sender.get(url),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "missing_scope"
    assert reader.get(url).status_code == 200
    anonymous = APIClient()
    for response in (
        anonymous.get(BULK),
        anonymous.get(url),
        anonymous.post(f"{url}cancel/"),
        _create(anonymous, _body("bob@example.com")),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"
    assert BulkSend.objects.count() == 1


def test_schema_lists_the_endpoints_with_examples() -> None:
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    create = schema["paths"][BULK]["post"]
    assert create["operationId"] == "bulk_send_create"
    key = next(p for p in create["parameters"] if p["name"] == "Idempotency-Key")
    assert key["required"] is True
    assert create["requestBody"]["content"]["application/json"]["examples"]
    assert {"201", "400", "401", "403", "409", "413"} <= set(create["responses"])
    assert create["responses"]["400"]["content"]["application/json"]["examples"]
    listing = schema["paths"][BULK]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"cursor", "limit"}
    detail = schema["paths"][f"{BULK}{{public_id}}/"]["get"]
    assert detail["responses"]["200"]["content"]["application/json"]["examples"]
    cancel = schema["paths"][f"{BULK}{{public_id}}/cancel/"]["post"]
    assert cancel["operationId"] == "bulk_send_cancel"
    assert cancel["responses"]["409"]["content"]["application/json"]["examples"]


def test_a_bad_row_is_numbered_from_1_as_the_command_and_admin_number_it(
    api,
) -> None:
    # The message counts recipients from 1 (what send_bulk prints); the
    # param stays the body's path, recipients[1] being the second recipient.
    body = {
        **_body("ada@example.com", "bob@example.com"),
        "context": {"headline": "Sale"},
        "recipients": [
            {"email": "ada@example.com", "context": {"body": "Hi"}},
            {"email": "bob@example.com", "context": {"first_name": "Bob"}},
        ],
    }
    error = _create(api, body).json()["error"]
    assert error["param"] == "recipients[1].context.body"
    assert error["message"].startswith("Recipient 2 (bob@example.com): ")
    bad = _create(api, _body("ada@example.com", "not an address"), key="k-2")
    error = bad.json()["error"]
    assert error["param"] == "recipients[1].email"
    assert error["message"].startswith("Recipient 2 ('not an address'): ")
    assert BulkSend.objects.count() == BulkRecipient.objects.count() == 0


def test_a_row_whose_data_makes_the_subject_too_long_names_that_row(api) -> None:
    body = _body("ada@example.com", "bob@example.com")
    body["recipients"][1]["context"]["headline"] = "x" * 1200
    error = _create(api, body).json()["error"]
    assert (error["code"], error["param"]) == (
        "subject_too_long",
        "recipients[1].context",
    )
    assert error["message"].startswith("Recipient 2 (bob@example.com): ")
    assert BulkSend.objects.count() == BulkRecipient.objects.count() == 0


def test_each_recipient_is_rendered_once_when_created(api, monkeypatch) -> None:
    from notifications import rendering
    from notifications.services import bulk

    calls: list[str] = []
    real = rendering.render_email

    def counted(template, context):
        calls.append(template)
        return real(template, context)

    for module in (rendering, bulk, api_bulk):
        monkeypatch.setattr(module, "render_email", counted, raising=False)
    body = _body("ada@example.com", "bob@example.com", "cy@example.com")
    assert _create(api, body).status_code == 201
    assert len(calls) == 3
