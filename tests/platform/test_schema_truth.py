"""/api/schema/ declares what the server enforces and answers: the statuses
each operation can give, the limits its input must meet, defaults the server
accepts, and the scopes each operation needs. Client generators and fuzzers
read only the schema, so every gap here is a client that breaks."""

import json
import uuid

import pytest
from rest_framework.test import APIClient

from integrations.api.scopes import SCOPES
from tests.factories import ApiKeyFactory, ProviderAccountFactory


def _schema() -> dict:
    # Served once per module (generating it was most of a test's time); each
    # test reads its own copy of what /api/schema/ answered.
    if not _SERVED:
        response = APIClient().get("/api/schema/", {"format": "json"})
        assert response.status_code == 200
        _SERVED.append(response.content)
    return json.loads(_SERVED[0])


_SERVED: list[bytes] = []


def _component(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _body(schema: dict, path: str, method: str) -> dict:
    op = schema["paths"][path][method]
    ref = op["requestBody"]["content"]["application/json"]["schema"]
    return _component(schema, ref)


def _client(scopes: list[str] | None = None) -> APIClient:
    key = ApiKeyFactory(scopes=scopes) if scopes is not None else ApiKeyFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


# --- Statuses the server answers are declared ---------------------------------


@pytest.mark.django_db
def test_webhook_endpoints_schema_declares_the_403_404_it_answers():
    schema = _schema()
    item = "/api/v1/webhook-endpoints/{public_id}/"
    observed = {
        ("get", "/api/v1/webhook-endpoints/"): _client(["payments:read"])
        .get("/api/v1/webhook-endpoints/")
        .status_code,
        ("get", item): _client()
        .get("/api/v1/webhook-endpoints/whe_missing/")
        .status_code,
        ("delete", item): _client()
        .delete("/api/v1/webhook-endpoints/whe_missing/")
        .status_code,
        ("post", item + "rotate-secret/"): _client()
        .post("/api/v1/webhook-endpoints/whe_missing/rotate-secret/")
        .status_code,
    }
    assert observed == {
        ("get", "/api/v1/webhook-endpoints/"): 403,
        ("get", item): 404,
        ("delete", item): 404,
        ("post", item + "rotate-secret/"): 404,
    }
    undeclared = {
        (method, path, status)
        for (method, path), status in observed.items()
        if str(status) not in schema["paths"][path][method]["responses"]
    }
    assert undeclared == set()


@pytest.mark.django_db
def test_bulk_sends_list_schema_declares_the_400_for_a_bad_limit():
    schema = _schema()
    response = _client().get("/api/v1/notifications/bulk-sends/?limit=0")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_limit"
    # cancel/ declares an optional Idempotency-Key (maxLength 255); a longer
    # one is a 400 idempotency_key_invalid, also undeclared there.
    cancel = _client().post(
        "/api/v1/notifications/bulk-sends/bulk_x/cancel/",
        HTTP_IDEMPOTENCY_KEY="k" * 256,
    )
    assert cancel.status_code == 400
    paths = schema["paths"]
    undeclared = [
        name
        for name, responses in [
            (
                "GET bulk-sends/",
                paths["/api/v1/notifications/bulk-sends/"]["get"]["responses"],
            ),
            (
                "POST bulk-sends/{id}/cancel/",
                paths["/api/v1/notifications/bulk-sends/{public_id}/cancel/"]["post"][
                    "responses"
                ],
            ),
        ]
        if "400" not in responses
    ]
    assert undeclared == []


@pytest.mark.django_db
def test_every_operation_declares_the_common_statuses_it_answers():
    # Sweep (payments vertical left out): no key -> 401, a key without the
    # scope -> 403, an unknown id -> 404, a 256-character Idempotency-Key ->
    # 400, ?limit=0 -> 400. Each status the server answers must be among the
    # operation's declared responses in /api/schema/.
    schema = _schema()
    no_scope = _client(["payments:read"])
    full = _client()
    undeclared = []
    for path, ops in schema["paths"].items():
        if path.startswith("/api/v1/payments") or "payment-methods" in path:
            continue
        if path == "/api/v1/me/":
            continue
        url = path.replace("{public_id}", "zz_missing")
        for method, op in ops.items():
            if method not in {"get", "post", "patch", "delete"}:
                continue
            declared = set(op["responses"])
            params = {p["name"]: p for p in op.get("parameters", [])}
            probes = [
                ("no key", APIClient(), url, {}),
                ("no scope", no_scope, url, {}),
            ]
            if "{public_id}" in path:
                probes.append(
                    (
                        "unknown id",
                        full,
                        url,
                        {"HTTP_IDEMPOTENCY_KEY": uuid.uuid4().hex},
                    )
                )
            if "Idempotency-Key" in params:
                probes.append(
                    ("long key", full, url, {"HTTP_IDEMPOTENCY_KEY": "k" * 256})
                )
            if "limit" in params:
                probes.append(("limit=0", full, url + "?limit=0", {}))
            for name, client, target, headers in probes:
                call = getattr(client, method)
                if method in {"post", "patch"}:
                    response = call(target, {}, format="json", **headers)
                else:
                    response = call(target, **headers)
                status = str(response.status_code)
                if status not in declared:
                    undeclared.append(f"{method.upper()} {path} [{name}] -> {status}")
    assert undeclared == [], "\n".join(undeclared)


# --- Limits the server enforces are declared -----------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"ttl_seconds": 59}, "ttl_seconds"),
        ({"ttl_seconds": 86_401}, "ttl_seconds"),
        ({"lines": [{"sku": f"S{i}", "quantity": 1} for i in range(101)]}, "lines"),
        ({"lines": []}, "lines"),
    ],
)
def test_reservation_limits_the_schema_declares_are_enforced(change, param):
    ProviderAccountFactory(slug="inv", kind="inventory", priority=1)
    body = {"order_id": "o", "lines": [{"sku": "A", "quantity": 1}], **change}
    response = _client().post(
        "/api/v1/inventory/reservations/",
        body,
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["param"] == param


@pytest.mark.django_db
def test_reservation_ttl_bounds_are_declared():
    ProviderAccountFactory(slug="inv", kind="inventory", priority=1)
    response = _client().post(
        "/api/v1/inventory/reservations/",
        {"order_id": "o", "lines": [{"sku": "A", "quantity": 1}], "ttl_seconds": 1},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "ttl_seconds"  # 60..86400
    ttl = _body(_schema(), "/api/v1/inventory/reservations/", "post")["properties"][
        "ttl_seconds"
    ]
    assert ttl.get("minimum") == 60 and ttl.get("maximum") == 86400, ttl


@pytest.mark.django_db
def test_lists_that_may_not_be_empty_declare_min_items():
    schema = _schema()
    client = _client()
    refused = client.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://example.com/h", "event_types": []},
        format="json",
    )
    assert refused.status_code == 400  # "This list may not be empty."
    reservation = _body(schema, "/api/v1/inventory/reservations/", "post")
    endpoint = _body(schema, "/api/v1/webhook-endpoints/", "post")
    bulk = _body(schema, "/api/v1/notifications/bulk-sends/", "post")
    lines = reservation["properties"]["lines"]
    recipients = bulk["properties"]["recipients"]
    missing = [
        name
        for name, ok in [
            (
                "event_types.minItems",
                endpoint["properties"]["event_types"].get("minItems") == 1,
            ),
            ("lines.minItems", lines.get("minItems") == 1),
            # enforced: 400 too_many "At most 100 lines."
            ("lines.maxItems", lines.get("maxItems") == 100),
            ("recipients.minItems", recipients.get("minItems") == 1),
            # README: "One request holds at most 10,000 recipients".
            ("recipients.maxItems", recipients.get("maxItems") == 10_000),
        ]
        if not ok
    ]
    assert missing == []


@pytest.mark.django_db
def test_documented_email_filter_order_id_is_a_declared_parameter():
    # README: `GET emails/` (paginated; `?status=`, `?order_id=`); the view
    # filters by order_id, the schema only declares status.
    op = _schema()["paths"]["/api/v1/notifications/emails/"]["get"]
    names = {p["name"] for p in op.get("parameters", [])}
    assert "order_id" in names, names


# --- A declared default is one the server accepts ------------------------------


@pytest.mark.django_db
def test_a_field_s_declared_default_is_accepted_when_sent():
    schema = _schema()
    endpoint = _body(schema, "/api/v1/webhook-endpoints/", "post")
    description = endpoint["properties"]["description"]
    assert description.get("default") == ""  # what the schema says it defaults to
    response = _client().post(
        "/api/v1/webhook-endpoints/",
        {
            "url": "https://example.com/h",
            "event_types": ["payment.captured"],
            "description": description["default"],
        },
        format="json",
    )
    # Was: 400 blank "This field may not be blank." (minLength 1 AND default "").
    assert response.status_code == 201, response.json()


@pytest.mark.django_db
def test_no_request_field_declares_a_default_its_own_constraints_refuse():
    # Static: request properties whose declared `default` violates their own
    # minLength / enum. The server refuses such a value when sent (webhook
    # description "", address company "", label_format "" -> 400
    # invalid_choice), so a generated client that sends defaults fails.
    schema = _schema()
    bad = []

    def walk(node, where, depth=0):
        node = _component(schema, node)
        if depth > 6:
            return
        for name, prop in (node.get("properties") or {}).items():
            resolved = prop
            if "allOf" in prop and len(prop["allOf"]) == 1:
                resolved = {**_component(schema, prop["allOf"][0]), **prop}
            resolved = _component(schema, resolved) if "$ref" in resolved else resolved
            if "default" in prop:
                default = prop["default"]
                if isinstance(default, str) and len(default) < resolved.get(
                    "minLength", 0
                ):
                    bad.append(f"{where}.{name} default {default!r} < minLength")
                if "enum" in resolved and default not in resolved["enum"]:
                    bad.append(f"{where}.{name} default {default!r} not in enum")
            if resolved.get("type") == "array":
                walk(resolved.get("items", {}), f"{where}.{name}[]", depth + 1)
            elif resolved.get("properties"):
                walk(resolved, f"{where}.{name}", depth + 1)

    for path, ops in schema["paths"].items():
        if path.startswith("/api/v1/payments") or "payment-methods" in path:
            continue  # payments vertical reviewed elsewhere
        for method, op in ops.items():
            body = ((op.get("requestBody") or {}).get("content") or {}).get(
                "application/json"
            )
            if body:
                walk(body["schema"], f"{method.upper()} {path}")
    assert bad == [], "\n".join(bad)


@pytest.mark.django_db
def test_webhook_endpoint_description_can_be_cleared_by_patch():
    client = _client()
    made = client.post(
        "/api/v1/webhook-endpoints/",
        {
            "url": "https://example.com/h",
            "event_types": ["payment.captured"],
            "description": "old",
        },
        format="json",
    )
    assert made.status_code == 201, made.json()
    cleared = client.patch(
        f"/api/v1/webhook-endpoints/{made.json()['id']}/",
        {"description": ""},
        format="json",
    )
    assert cleared.status_code == 200, cleared.json()
    assert cleared.json()["description"] == ""
    again = client.get(f"/api/v1/webhook-endpoints/{made.json()['id']}/")
    assert again.json()["description"] == ""


@pytest.mark.django_db
def test_no_patch_body_declares_a_default():
    # OpenAPI: `default` is what the server assumes when a field is omitted;
    # on PATCH an omitted field is left unchanged, so no default is true.
    schema = _schema()
    declared = [
        f"{name}.{field}"
        for name, component in schema["components"]["schemas"].items()
        if name.startswith("Patched")
        for field, prop in (component.get("properties") or {}).items()
        if "default" in prop
    ]
    assert declared == []


@pytest.mark.django_db
def test_patch_sent_with_the_declared_defaults_leaves_other_fields_unchanged():
    # A generated client fills every declared default into the PATCH body;
    # the description "" default used to erase the description.
    schema = _schema()
    body = _body(schema, "/api/v1/webhook-endpoints/{public_id}/", "patch")
    filled = {
        name: prop["default"]
        for name, prop in body["properties"].items()
        if "default" in prop
    }
    client = _client()
    made = client.post(
        "/api/v1/webhook-endpoints/",
        {
            "url": "https://example.com/h",
            "event_types": ["payment.captured"],
            "description": "Shop A production",
        },
        format="json",
    )
    changed = client.patch(
        f"/api/v1/webhook-endpoints/{made.json()['id']}/",
        {**filled, "event_types": ["payment.captured", "payment.refunded"]},
        format="json",
    )
    assert changed.status_code == 200, changed.json()
    assert changed.json()["description"] == "Shop A production", filled


@pytest.mark.django_db
def test_webhook_endpoint_bad_input_is_invalid_endpoint_as_documented():
    # docs/storefront-webhooks.md: "Bad input is a 400 `invalid_endpoint` with `param`."
    response = _client().post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://example.com/h", "event_types": []},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "event_types"
    assert response.json()["error"]["code"] == "invalid_endpoint", response.json()


# --- Each operation names the scopes it needs ----------------------------------


@pytest.mark.django_db
def test_every_operation_names_the_scope_it_needs():
    # components.securitySchemes.ApiKey.description: "Each endpoint names the
    # scopes it needs." No operation does (security is `ApiKey: []`, and no
    # summary/description mentions one), so an integrator cannot tell from
    # /api/schema/ or /api/docs/ which scope e.g. POST /shipping/rates/ or
    # /webhook-endpoints/ needs.
    schema = _schema()
    assert "Each endpoint names the scopes it needs" in json.dumps(
        schema["components"]["securitySchemes"]
    )
    silent = []
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            if method not in {"get", "post", "patch", "put", "delete"}:
                continue
            if path == "/api/v1/me/":
                continue  # any valid key
            text = json.dumps(op)
            if not any(scope in text for scope in SCOPES):
                silent.append(f"{method.upper()} {path}")
    assert silent == [], f"{len(silent)} operations name no scope, e.g. {silent[:3]}"


@pytest.mark.django_db
def test_an_operation_s_scopes_are_its_method_s():
    # One view, two methods, two scopes: each operation names its own.
    op = _schema()["paths"]["/api/v1/notifications/emails/"]
    assert op["get"]["x-required-scopes"] == ["email:read"]
    assert op["post"]["x-required-scopes"] == ["email:send"]
    assert "`email:read`" in op["get"]["description"]
    assert "email:send" not in op["get"]["description"]
