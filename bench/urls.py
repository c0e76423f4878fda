"""The project's URLs plus a bare view: the webhook benchmark's baseline."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as project_urlpatterns


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    request.read()  # the same body as a webhook arrives; read it like one
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/bare/", bare), *project_urlpatterns]
