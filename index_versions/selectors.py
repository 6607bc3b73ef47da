"""Reads on index versions."""

from dataclasses import dataclass, field

from django.db import connection
from django.db.models import QuerySet

from acl.selectors import visibility_condition
from index_versions.models import IndexVersion, VersionDocument
from sources.models import Document


def index_version_list() -> QuerySet[IndexVersion]:
    """Versions hold no content by themselves (counts and pipeline only): no ACL applies."""
    return IndexVersion.objects.select_related("pipeline")


@dataclass
class VersionDiff:
    version: int
    against: int
    added: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    changed: list[dict] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "removed": len(self.removed), "changed": len(self.changed)}


def index_version_diff(*, version: IndexVersion, against: IndexVersion, user) -> VersionDiff:
    """Documents added, removed and changed in ``version`` relative to ``against``.

    Staff (operators deciding on a rollback) see every document; anyone else only
    documents they may read, through the same visibility filter as search.
    """
    condition, params = ("TRUE", ())
    if not user.is_staff:
        condition, params = visibility_condition(
            user=user,
            source_column="coalesce(a.source_id, b.source_id)",
            document_column="coalesce(a.document_id, b.document_id)",
        )
    table = VersionDocument._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT coalesce(a.document_id, b.document_id), a.revision_id, b.revision_id
            FROM (SELECT * FROM {table} WHERE version_id = %s) a
            FULL JOIN (SELECT * FROM {table} WHERE version_id = %s) b ON a.document_id = b.document_id
            WHERE a.revision_id IS DISTINCT FROM b.revision_id AND {condition}
            ORDER BY 1
            """,
            [version.pk, against.pk, *params],
        )
        rows = cursor.fetchall()
    documents = Document.objects.in_bulk([document_id for document_id, _, _ in rows])
    diff = VersionDiff(version=version.pk, against=against.pk)
    for document_id, revision, other_revision in rows:
        document = documents[document_id]
        entry = {"document_id": document_id, "source_id": document.source_id, "title": document.title}
        if other_revision is None:
            diff.added.append(entry)
        elif revision is None:
            diff.removed.append(entry)
        else:
            diff.changed.append(entry)
    return diff
