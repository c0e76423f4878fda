"""The unsubscribe page: GET only shows a confirmation with a button (link
scanners fetch links, so a GET must change nothing); POST unsubscribes,
including mail clients' RFC 8058 one-click POST."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from notifications.models import SuppressionReason
from notifications.services import suppression_add
from notifications.unsubscribe import unsubscribe_address


# csrf_exempt: the one-click POST comes from the mail client, without our
# cookie; the signed token is what authorises it.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    address = unsubscribe_address(token)
    if address is None:
        return render(
            request, "notifications/unsubscribe.html", {"invalid": True}, status=404
        )
    if request.method == "POST":
        suppression_add(
            address=address, reason=SuppressionReason.UNSUBSCRIBE, source="link"
        )
        return render(request, "notifications/unsubscribe.html", {"done": True})
    return render(request, "notifications/unsubscribe.html", {"address": address})
