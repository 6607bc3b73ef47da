from django.apps import AppConfig


class AclConfig(AppConfig):
    name = "acl"
    verbose_name = "Access control"
