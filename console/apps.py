from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operator's console: Django's admin, with the pages operators need. The edge: it may use every app."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "console"
    verbose_name = "Console"
