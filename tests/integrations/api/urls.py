"""Test URLconf: the real routes and error handlers plus the test views."""

from django.urls import path

from config.urls import (  # noqa: F401 (error handlers are found by name)
    handler400,
    handler403,
    handler404,
    handler500,
)
from config.urls import urlpatterns as real_urlpatterns
from tests.integrations.api import views

urlpatterns = [
    path("api/v1/test/groups/", views.GroupsView.as_view()),
    path("api/v1/test/optional/", views.OptionalKeyView.as_view()),
    path("api/v1/test/staff-groups/", views.StaffGroupsView.as_view()),
    path("api/v1/test/validate/", views.ValidateView.as_view()),
    path("api/v1/test/raises/", views.RaisesView.as_view()),
    path("api/v1/test/undeclared/", views.UndeclaredScopesView.as_view()),
    *real_urlpatterns,
]
