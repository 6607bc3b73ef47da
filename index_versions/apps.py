from django.apps import AppConfig


class IndexVersionsConfig(AppConfig):
    name = "index_versions"
    verbose_name = "Index versions"
