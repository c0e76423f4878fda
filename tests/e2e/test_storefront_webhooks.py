"""Staff create a storefront webhook endpoint, send a test event, see it in
the delivery log and send it again, over a real receiver on 127.0.0.1."""

import pytest
from standardwebhooks.webhooks import Webhook

from integrations.testing.faultserver import FaultServer, respond
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_create_test_and_resend(settings, admin_login, live_server) -> None:
    settings.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    with FaultServer() as receiver:
        receiver.route("POST", "/hooks", respond(200))
        page = admin_login()

        page.goto(f"{live_server.url}/admin/storefront_hooks/webhookendpoint/add/")
        page.fill("#id_url", receiver.url_for("/hooks"))
        page.fill("#id_event_types", "payment.*")
        page.click("input[name='_save']")
        secret = page.locator("#signing-secret").inner_text()
        assert secret.startswith("whsec_")

        page.click("text=Back to the endpoint")
        page.click("#send-test-event")
        page.locator(".messagelist .success").wait_for()
        delivery = WebhookDelivery.objects.get()
        row = page.locator("#result_list tbody tr", has_text=delivery.public_id)
        assert "Delivered" in row.inner_text()

        row.locator("input[name='_selected_action']").check()
        page.select_option("select[name='action']", "send_again")
        page.click("button[name='index']")
        page.locator(".messagelist .success").wait_for()

    requests = receiver.requests_for("POST", "/hooks")
    assert len(requests) == 2
    assert {r.header("webhook-id") for r in requests} == {delivery.public_id}
    for request in requests:
        assert Webhook(secret).verify(request.body, request.headers)["type"] == (
            "webhook.test"
        )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.signing_secrets() == [secret]
