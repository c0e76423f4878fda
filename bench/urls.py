"""The project's URLs plus bare views: the webhook and payments benchmarks'
baselines."""

import json
import uuid

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.payment_floor import PaymentRowsView
from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as project_urlpatterns
from integrations.db import execute_one
from integrations.models import IdempotencyRecord
from integrations.webhooks import accounts, services
from integrations.webhooks.messages import WebhookMessage
from integrations.webhooks.verification import RequestHeaders


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    request.read()  # the same body as a webhook arrives; read it like one
    return HttpResponse(b"ok", content_type="text/plain")


@csrf_exempt
def database_round_trip(request: HttpRequest) -> HttpResponse:
    """The bare view plus one round trip to the database that writes nothing
    (``SELECT 1``, sent the way the intake sends its INSERT): what talking to
    the database at all costs, before any row is written or committed."""
    request.read()
    execute_one("SELECT 1", [])
    return HttpResponse(b"ok", content_type="text/plain")


@csrf_exempt
def storage_floor(request: HttpRequest, account_slug: str) -> HttpResponse:
    """What any intake that stores a webhook before answering must pay: the
    intake's own durable INSERT (with its dedupe), and the body and headers it
    stores. No signature check, metric, log line or enqueue."""
    account, _cached = accounts.get(account_slug)
    if account is None:
        raise Http404
    body = request.read()
    headers = RequestHeaders.from_meta(request.META)
    try:
        message = WebhookMessage(
            event_type="bench.floor",
            dedupe_key=headers["webhook-id"],
            payload=json.loads(body),
            occurred_at=None,
        )
    except (KeyError, ValueError):
        return HttpResponse(b"webhook-id header and a JSON body needed", status=400)
    services.webhook_event_store(
        account=account, message=message, body=body, headers=headers
    )
    return HttpResponse(b"ok", content_type="text/plain")


class BareApiView(APIView):
    """The API's default authentication, permission and throttle classes
    (any valid API key), and nothing else."""

    required_scopes = ()

    def get(self, request: Request) -> Response:
        return Response({})


class TwoCommitsView(APIView):
    """The payments floor: the bare API view plus two commits, as a payment
    now makes (an in-flight idempotency record, then its completion)."""

    required_scopes = ()

    def post(self, request: Request) -> Response:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                owner="bench-floor",
                key=uuid.uuid4().hex,
                method="POST",
                path=request.path,
                request_hash="",
                state=IdempotencyRecord.State.IN_FLIGHT,
            )
        with transaction.atomic():
            IdempotencyRecord.objects.filter(pk=record.pk).update(
                state=IdempotencyRecord.State.COMPLETED, response_status=201
            )
        return Response({}, status=201)


urlpatterns = [
    path("bench/bare/", bare),
    path("bench/round-trip/", database_round_trip),
    path("bench/floor/<slug:account_slug>/", storage_floor),
    path("bench/bare-api/", BareApiView.as_view()),
    path("bench/two-commits/", TwoCommitsView.as_view()),
    path("bench/payment-rows/", PaymentRowsView.as_view()),
    *project_urlpatterns,
]
