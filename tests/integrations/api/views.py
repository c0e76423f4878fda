"""Small DRF views that exercise the API platform the way domain endpoints
will: scopes, the error shape and ``@idempotent`` over the full HTTP stack.

``hooks`` lets a test run code inside a handler (fail once, or send a
concurrent request while the first is in flight); the ``_reset_hooks`` fixture
clears it.
"""

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.mixins import ListModelMixin
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.errors import ApiError
from integrations.api.idempotency import idempotent

hooks: dict[str, Callable[[Request], Any]] = {}


class GroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = Group
        fields = ["id", "name"]


class GroupsView(ListModelMixin, GenericAPIView):
    """POST writes one row (a Group): the side effect idempotency must not repeat.
    GET pages by cursor, oldest first (a Group has no created time)."""

    serializer_class = GroupSerializer
    queryset = Group.objects.all()
    cursor_ordering = ("pk",)
    required_scopes = {"GET": ["inventory:read"], "POST": ["inventory:write"]}

    def get(self, request: Request) -> Response:
        return self.list(request)

    @idempotent
    def post(self, request: Request) -> Response:
        serializer = GroupSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if "during" in hooks:
            hooks["during"](request)
        # As a domain service would: the write and anything failing after it
        # commit or roll back together.
        with transaction.atomic():
            group = serializer.save()
            if "after" in hooks:
                hooks["after"](request)
        return Response(
            serializer.data,
            status=status.HTTP_201_CREATED,
            headers={"Location": f"/api/v1/test/groups/{group.pk}/"},
        )


class OptionalKeyView(GenericAPIView):
    serializer_class = GroupSerializer
    required_scopes = ["inventory:write"]

    @idempotent(required=False)
    def post(self, request: Request) -> Response:
        group = Group.objects.create(name=request.data["name"])
        return Response({"id": group.pk}, status=status.HTTP_201_CREATED)


class StaffGroupsView(GroupsView):
    allow_staff = True


class LineSerializer(serializers.Serializer):
    sku = serializers.CharField()
    quantity = serializers.IntegerField(min_value=1)


class OrderSerializer(serializers.Serializer):
    reference = serializers.CharField(max_length=10)
    lines = LineSerializer(many=True)


class ValidateView(GenericAPIView):
    serializer_class = OrderSerializer
    required_scopes = ["inventory:write"]

    def post(self, request: Request) -> Response:
        OrderSerializer(data=request.data).is_valid(raise_exception=True)
        return Response({"ok": True})


@extend_schema(exclude=True)
class RaisesView(APIView):
    """Raises what ``?kind=`` names, from Django or the API layer."""

    required_scopes = ()

    def get(self, request: Request) -> Response:
        kind = request.query_params.get("kind")
        if kind == "http404":
            raise Http404("no such thing")
        if kind == "django_permission":
            raise PermissionDenied
        if kind == "django_validation":
            raise ValidationError({"amount": ["Must be positive."]})
        if kind == "api_error":
            raise ApiError(
                "Card declined.", code="card_declined", status_code=402, param="card"
            )
        # An unexpected bug whose message must not reach the client.
        raise RuntimeError("boom: sk_live_do_not_leak")


@extend_schema(exclude=True)
class UndeclaredScopesView(APIView):
    """Declares no ``required_scopes``: closed to API keys."""

    def get(self, request: Request) -> Response:
        return Response({"ok": True})
