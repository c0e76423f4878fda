from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from integrations import secrets_registry
        from integrations.client import store

        secrets_registry.connect_signals()
        store.connect_signals()
