from django.contrib.admin.apps import AdminConfig


class SwitchyardAdminConfig(AdminConfig):
    """``django.contrib.admin`` with the project's site as ``admin.site``."""

    default_site = "config.admin_site.SwitchyardAdminSite"
