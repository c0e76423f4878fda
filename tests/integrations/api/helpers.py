"""Assertions shared by the API platform tests."""

from django.http import HttpResponse


def assert_error(
    response: HttpResponse, status: int, code: str, param: str | None = None
) -> dict:
    """The one error shape, with the expected status, code and param."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "code", "message", "param"}
    assert body["error"]["code"] == code, body
    assert body["error"]["param"] == param, body
    assert body["error"]["message"]
    return body["error"]
