from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ConsoleConfig(AppConfig):
    """The operator's console: Django's admin, with the pages operators need. The edge: it may use every app."""

    default = True  # what "console" in INSTALLED_APPS means; ConsoleAdminConfig is named explicitly
    default_auto_field = "django.db.models.BigAutoField"
    name = "console"
    verbose_name = "Console"


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with the console's site as ``admin.site``: every registration lands on it."""

    default = False
    default_site = "console.site.ConsoleSite"
