"""OpenAPI schema and docs, usable with no internet access."""

import re
from io import StringIO

import pytest
import yaml
from django.core.management import call_command

from tests.integrations.api.conftest import TEST_URLS

pytestmark = pytest.mark.django_db


def test_schema_has_api_key_scheme(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "sy_<prefix>_<secret>",
        "description": schema["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    me = schema["paths"]["/api/v1/me/"]["get"]
    assert {"ApiKey": []} in me["security"]
    assert "401" in me["responses"]


def test_schema_validates_without_warnings():
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert yaml.safe_load(out.getvalue())["openapi"].startswith("3.")


def test_idempotent_endpoint_documents_the_header():
    out = StringIO()
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--urlconf",
        TEST_URLS,
        stdout=out,
    )
    schema = yaml.safe_load(out.getvalue())
    parameters = schema["paths"]["/api/v1/test/groups/"]["post"]["parameters"]
    header = next(p for p in parameters if p["name"] == "Idempotency-Key")
    assert header["in"] == "header" and header["required"] is True
    optional = schema["paths"]["/api/v1/test/optional/"]["post"]["parameters"]
    header = next(p for p in optional if p["name"] == "Idempotency-Key")
    assert not header.get("required", False)


def test_docs_use_only_local_assets(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"https?://", html), "docs must not reference the internet"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 3  # css, bundle, standalone preset
    for url in assets:
        assert url.startswith("/static/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        body = b"".join(asset.streaming_content) if asset.streaming else asset.content
        assert len(body) > 100
    # The page loads the schema from this server.
    assert "/api/schema/" in html
    assert '"validatorUrl": null' in html
