from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from integrations import views_ops
from integrations.admin.dashboard import integrations_dashboard
from integrations.api import errors as api_errors

urlpatterns = [
    # First: the busiest route, resolved on every webhook.
    path("webhooks/", include("integrations.webhooks.urls")),
    # Before admin/: the admin's catch-all would answer this path otherwise.
    path(
        "admin/integrations/dashboard/",
        admin.site.admin_view(integrations_dashboard),
        name="integrations-dashboard",
    ),
    path("admin/", admin.site.urls),
    path("email/", include("notifications.urls")),
    path("healthz", views_ops.healthz, name="healthz"),
    path("readyz", views_ops.readyz, name="readyz"),
    path("metrics", views_ops.metrics, name="metrics"),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
    # Keep last among the api/ routes: any other path under /api/ is a JSON 404,
    # even with DEBUG on, and CommonMiddleware does not redirect a slash-less
    # POST (which would drop its body).
    # csrf_exempt: a POST there must get the 404, not the CSRF failure page.
    re_path(
        r"^api/",
        csrf_exempt(api_errors.api_not_found),
        name=api_errors.CATCH_ALL_URL_NAME,
    ),
]


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


# Under /api/ every error is JSON in the API's error shape, never an HTML page.
def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return api_errors.api_not_found(request, exception)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return api_errors.api_server_error(request)
    return defaults.server_error(request)


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return api_errors.api_bad_request(request, exception)
    return defaults.bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return api_errors.api_permission_denied(request, exception)
    return defaults.permission_denied(request, exception)
