"""Duplicate groups of a version: copies of one text across sources, found when the version is built."""

from django.conf import settings
from django.db import transaction

from index_versions.duplicate_detection import groups
from index_versions.models import DuplicateMember, IndexVersion, VersionDocument
from sources.models import Source


def duplicates_compute(*, version: IndexVersion) -> int:
    """Group the version's documents that are copies of each other; returns the number of groups.

    Across all sources. The canonical member of a group is the document of an
    authoritative source (``DUPLICATES_AUTHORITATIVE_SOURCES``, names), else the
    most recently modified one (ties: the lowest id). Search shows, per group, the
    best member the searcher may read and lists their other readable copies.
    """
    authoritative = set(
        Source.objects.filter(name__in=settings.DUPLICATES_AUTHORITATIVE_SOURCES).values_list("pk", flat=True)
    )
    rows = list(
        VersionDocument.objects.filter(version=version).values_list(
            "document_id", "source_id", "revision__content", "revision__modified_at"
        )
    )
    info = {document_id: (source_id, modified_at) for document_id, source_id, _, modified_at in rows}
    found = groups(
        ((document_id, content) for document_id, _, content, _ in rows), threshold=settings.DUPLICATES_NEAR_THRESHOLD
    )

    def preference(document_id):
        source_id, modified_at = info[document_id]
        return (source_id in authoritative, modified_at is not None, modified_at or 0, -document_id)

    members = []
    for ids, kind in found:
        canonical = max(ids, key=preference)
        members += [
            DuplicateMember(
                version=version,
                document_id=document_id,
                group=canonical,
                kind=kind,
                is_canonical=(document_id == canonical),
            )
            for document_id in ids
        ]
    with transaction.atomic():
        DuplicateMember.objects.filter(version=version).delete()
        DuplicateMember.objects.bulk_create(members, batch_size=1000)
    return len(found)
