"""Retention: old versions deleted, then the revisions and embeddings nothing refers to any more."""

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef

from acl.models import AuditEvent
from acl.services import audit_record
from index_versions.models import Chunk, Embedding, IndexVersion, VersionDocument
from index_versions.services.locking import versions_lock
from sources.models import DocumentRevision


@transaction.atomic
def index_versions_retain(*, keep: int | None = None) -> dict[str, int]:
    """Delete versions beyond the newest ``keep`` (default ``INDEX_VERSIONS_KEEP``), then collect garbage.

    The active version, pinned versions and versions still building are always kept.
    Returns counts of what was deleted.
    """
    keep = settings.INDEX_VERSIONS_KEEP if keep is None else keep
    versions_lock()
    newest = IndexVersion.objects.order_by("-id").values_list("pk", flat=True)[:keep]
    doomed = (
        IndexVersion.objects.exclude(pk__in=list(newest))
        .exclude(pinned=True)
        .exclude(state__in=[IndexVersion.State.ACTIVE, IndexVersion.State.BUILDING])
    )
    deleted_versions = [version.pk for version in doomed]
    IndexVersion.objects.filter(pk__in=deleted_versions).delete()
    collected = storage_collect_garbage()
    if deleted_versions:
        audit_record(
            actor=None, action=AuditEvent.Action.VERSION_RETENTION, details={"deleted": deleted_versions, **collected}
        )
    return {"versions": len(deleted_versions), **collected}


def storage_collect_garbage() -> dict[str, int]:
    """Delete revisions no version contains (with their chunks), then embeddings no chunk uses.

    A document's newest revision is kept even when no version holds it, so an
    interrupted sync does not have to parse it again.
    """
    in_a_version = VersionDocument.objects.filter(revision_id=OuterRef("pk"))
    orphans = DocumentRevision.objects.exclude(Exists(in_a_version)).exclude(content_hash=F("document__content_hash"))
    _, deleted = orphans.delete()
    used = Chunk.objects.filter(embedding_id=OuterRef("pk"))
    embeddings, _ = Embedding.objects.exclude(Exists(used)).delete()
    return {"revisions": deleted.get(DocumentRevision._meta.label, 0), "embeddings": embeddings}
