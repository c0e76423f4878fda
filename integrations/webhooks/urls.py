from django.urls import path

from integrations.webhooks.views import webhook_receive

app_name = "webhooks"

urlpatterns = [
    path("<slug:account_slug>/", webhook_receive, name="receive"),
]
