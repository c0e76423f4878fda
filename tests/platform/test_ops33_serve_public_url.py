"""ops33: ``serve --addr 127.0.0.1:8001`` left EMAIL_PUBLIC_BASE_URL at its
DEBUG default, http://127.0.0.1:8000, so the unsubscribe links of the demo's
emails pointed at a port nothing served. The children now get the address
served (unless the environment or .env sets one), and the banner states
where links in emails point."""

import pytest

from integrations.management.commands.serve import child_environment
from tests.platform.test_serve import serve, serve_env  # noqa: F401


def _public(host: str, port: str) -> str:
    return child_environment(host, port)["EMAIL_PUBLIC_BASE_URL"]


def test_email_links_follow_the_address_served(monkeypatch):
    monkeypatch.delenv("EMAIL_PUBLIC_BASE_URL", raising=False)
    assert _public("127.0.0.1", "8001") == "http://127.0.0.1:8001"
    every_interface = "0.0.0.0"  # noqa: S104 - what `serve --addr` may be given
    assert _public(every_interface, "9000") == "http://127.0.0.1:9000"


def test_a_base_url_set_by_the_operator_is_kept(monkeypatch):
    monkeypatch.setenv("EMAIL_PUBLIC_BASE_URL", "https://demo.example")
    assert _public("127.0.0.1", "8001") == "https://demo.example"


@pytest.mark.usefixtures("serve_env")
def test_the_banner_says_where_email_links_point(serve):  # noqa: F811
    serve.wait_until_up()
    assert f"Links in emails: http://127.0.0.1:{serve.port}/" in serve.output()
