from django.apps import AppConfig


class IngestConfig(AppConfig):
    """The sync: fetches sources, parses, embeds and builds index versions. Orchestrates every other app."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "ingest"
    verbose_name = "Sync"
