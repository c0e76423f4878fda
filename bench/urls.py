"""The project's URLs plus bare views: the webhook and payments benchmarks'
baselines."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as project_urlpatterns


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    request.read()  # the same body as a webhook arrives; read it like one
    return HttpResponse(b"ok", content_type="text/plain")


class BareApiView(APIView):
    """The API's default authentication, permission and throttle classes
    (any valid API key), and nothing else."""

    required_scopes = ()

    def get(self, request: Request) -> Response:
        return Response({})


urlpatterns = [
    path("bench/bare/", bare),
    path("bench/bare-api/", BareApiView.as_view()),
    *project_urlpatterns,
]
