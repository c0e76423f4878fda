"""Demo data for ``make run``: one sandbox account per kind (two for payments,
so failover can be watched; three for shipping, so the compare page shows two
carriers' prices and one failing carrier), a superuser and a storefront API key.

Safe to run again: nothing that exists is changed, and secrets are printed
only when they are created, because only hashes are stored.
"""

import base64
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from integrations.api.scopes import SCOPES
from integrations.api.services import api_key_create
from integrations.management.arguments import OneLineCommand
from integrations.models import ApiKey
from integrations.services import provider_account_get_or_create

ADMIN_USERNAME = "admin"
DEMO_API_KEY_NAME = "demo storefront"

# (slug, kind, display name, priority, settings). Lower priority runs first.
DEMO_ACCOUNTS: list[tuple[str, str, str, int, dict[str, Any]]] = [
    ("sandbox-payments", "payments", "Sandbox payments", 10, {}),
    ("sandbox-payments-backup", "payments", "Sandbox payments (backup)", 20, {}),
    ("sandbox-shipping", "shipping", "Sandbox shipping", 10, {}),
    # A dearer second carrier, so rate shopping has prices to compare.
    (
        "sandbox-shipping-express",
        "shipping",
        "Sandbox shipping (express, pricier)",
        20,
        {"price_factor": 1.35},
    ),
    # Enabled on purpose and named so: the compare page shows a failing
    # carrier with its reason. Staff clear "outage" in the admin to heal it.
    (
        "sandbox-shipping-outage",
        "shipping",
        "Sandbox shipping (simulated outage)",
        30,
        {"outage": True},
    ),
    ("sandbox-inventory", "inventory", "Sandbox inventory", 10, {}),
    ("sandbox-email", "email", "Sandbox email", 10, {}),
]


def _sandbox_credentials() -> dict[str, str]:
    return {
        "api_key": "sbx_" + secrets.token_urlsafe(24),
        # Standard Webhooks secrets are standard base64 (not URL-safe: a "-"
        # or "_" in it would make every webhook fail verification).
        "webhook_secret": "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
    }


class Command(OneLineCommand):
    help = "Create sandbox provider accounts, an admin user and a demo API key."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            self._accounts()
            password = self._admin()
            api_key = self._api_key()
        self._report(password, api_key)

    def _accounts(self) -> None:
        for slug, kind, name, priority, account_settings in DEMO_ACCOUNTS:
            _, created = provider_account_get_or_create(
                slug=slug,
                kind=kind,
                provider="sandbox",
                display_name=name,
                priority=priority,
                credentials=_sandbox_credentials(),
                settings=dict(account_settings),
            )
            state = "created" if created else "exists"
            self.stdout.write(f"Provider account {slug} ({kind}/sandbox): {state}")

    def _admin(self) -> str | None:
        User = get_user_model()
        if User.objects.filter(username=ADMIN_USERNAME).exists():
            return None
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(
            username=ADMIN_USERNAME, email="admin@example.com", password=password
        )
        return password

    def _api_key(self) -> str | None:
        if ApiKey.objects.filter(name=DEMO_API_KEY_NAME).exists():
            return None
        _, full_key = api_key_create(name=DEMO_API_KEY_NAME, scopes=SCOPES)
        return full_key

    def _report(self, password: str | None, api_key: str | None) -> None:
        out = self.stdout
        if password:
            out.write(
                self.style.SUCCESS(
                    f"Created superuser {ADMIN_USERNAME!r} with password: {password}"
                )
            )
            out.write("  Shown only this once; note it down.")
        else:
            out.write(
                f"Superuser {ADMIN_USERNAME!r} exists; its password was printed when "
                "it was created. Reset it with: "
                f"python manage.py changepassword {ADMIN_USERNAME}"
            )
        if api_key:
            out.write(
                self.style.SUCCESS(
                    f"Created API key {DEMO_API_KEY_NAME!r} (all scopes): {api_key}"
                )
            )
            out.write(
                "  Shown only this once; send it as 'Authorization: Bearer <key>'."
            )
        else:
            out.write(
                f"API key {DEMO_API_KEY_NAME!r} exists; it was printed when created. "
                "Create another with: python manage.py create_api_key --name NAME "
                "--scopes payments:read,payments:write"
            )
