"""Retention: old versions deleted, then the spans, revisions and embeddings nothing refers to any more.

Each step costs what it deletes: a span is garbage when no kept version's id lies
in it, which the span indexes find between consecutive kept ids; a revision is a
candidate only if a deleted span held it or it is new since the last collection
(a sync that never finished); an embedding only if a deleted chunk used it.
"""

import itertools

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q

from acl.models import AuditEvent
from acl.services import audit_record
from index_versions.models import (
    Chunk,
    DuplicateSpan,
    Embedding,
    GarbageCandidate,
    IndexVersion,
    MembershipSpan,
    SourceStatSpan,
    TermStatSpan,
)
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
    deleted_versions = list(doomed.values_list("pk", flat=True))
    IndexVersion.objects.filter(pk__in=deleted_versions).delete()
    collected = storage_collect_garbage()
    if deleted_versions:
        audit_record(
            actor=None, action=AuditEvent.Action.VERSION_RETENTION, details={"deleted": deleted_versions, **collected}
        )
    return {"versions": len(deleted_versions), **collected}


def _garbage(model) -> Q:
    """Spans of ``model`` that contain no kept version's id: before the first, between two, after the last."""
    kept = list(IndexVersion.objects.order_by("pk").values_list("pk", flat=True))
    if not kept:
        return Q(pk__isnull=False)
    garbage = Q(valid_to__lte=kept[0]) | Q(valid_from__gt=kept[-1])
    for low, high in itertools.pairwise(kept):
        if high > low + 1:
            garbage |= Q(valid_from__gt=low, valid_to__lte=high)
    return garbage


def storage_collect_garbage() -> dict[str, int]:
    """Delete spans no kept version holds, revisions no span holds (with their chunks), then unused embeddings.

    A document's newest revision is kept even when no version holds it, so an
    interrupted sync does not have to parse it again. Callers hold the version lock.
    """
    versions_lock()
    spans = MembershipSpan.objects.filter(_garbage(MembershipSpan))
    candidates = set(spans.values_list("revision_id", flat=True))
    spans_deleted, _ = spans.delete()
    for model in (DuplicateSpan, TermStatSpan, SourceStatSpan):
        model.objects.filter(_garbage(model)).delete()
    candidates |= set(GarbageCandidate.objects.values_list("revision_id", flat=True))
    # Nothing of a purged document may outlive its purge, whatever wrote it.
    candidates |= set(DocumentRevision.objects.filter(document__purged_at__isnull=False).values_list("pk", flat=True))
    candidates = list(candidates)
    held = MembershipSpan.objects.filter(revision_id=OuterRef("pk"))
    unheld = DocumentRevision.objects.filter(pk__in=candidates).exclude(Exists(held))
    current = Q(content_hash=F("document__content_hash")) & Q(document__purged_at__isnull=True)
    # A document's current content survives unheld (an interrupted sync need not parse it again): it stays a
    # candidate, checked again next time; a candidate a version holds again is no candidate any more.
    kept = list(unheld.filter(current).values_list("pk", flat=True))
    GarbageCandidate.objects.bulk_create([GarbageCandidate(revision_id=pk) for pk in kept], ignore_conflicts=True)
    GarbageCandidate.objects.filter(revision_id__in=candidates).exclude(revision_id__in=kept).delete()
    orphans = unheld.exclude(current)
    embeddings_used = set(Chunk.objects.filter(revision__in=orphans).values_list("embedding_id", flat=True))
    _, deleted = orphans.delete()
    used = Chunk.objects.filter(embedding_id=OuterRef("pk"))
    embeddings, _ = Embedding.objects.filter(pk__in=list(embeddings_used)).exclude(Exists(used)).delete()
    return {
        "spans": spans_deleted,
        "revisions": deleted.get(DocumentRevision._meta.label, 0),
        "embeddings": embeddings,
    }
