from django.db.models import QuerySet

from index_versions.models import IndexVersion


def index_version_list() -> QuerySet[IndexVersion]:
    """Versions hold no content by themselves (counts and pipeline only): no ACL applies."""
    return IndexVersion.objects.select_related("pipeline")
