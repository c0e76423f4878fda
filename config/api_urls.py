"""Storefront API, version 1. Each domain app adds its own urls module here."""

from django.urls import path  # noqa: F401

app_name = "api"
urlpatterns: list = []
