from django.apps import AppConfig


class StorefrontHooksConfig(AppConfig):
    name = "storefront_hooks"
    verbose_name = "Storefront webhooks"
