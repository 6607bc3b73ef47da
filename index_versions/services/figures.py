"""A version's derived figures (counts, per-source fingerprints, bytes), from its base's and its changes.

Nothing here reads the whole corpus: a version's figures are its base's adjusted by
the documents it changed, except where the pipeline differs (a rebuild counts its
chunks once, as it embeds everything anyway).

A source's fingerprint is ``"<documents>:<sum>"``, where ``sum`` is the sum modulo
2**64 of a 64-bit hash of each (document, revision) row: order-free, so adding and
removing a row adjusts it in O(1), and two versions hold the same content of a
source exactly when (barring a hash collision) their fingerprints are equal.
"""

import hashlib

from django.db import connection
from django.db.models import Count

from index_versions.models import Chunk, IndexVersion, MembershipSpan
from sources.models import DocumentRevision

_MODULUS = 2**64
_SPANS = MembershipSpan._meta.db_table
_REVISION = DocumentRevision._meta.db_table
# The same 64 bits in SQL (first 16 hex digits of the md5), for fingerprints computed from scratch.
ROW_HASH_SQL = "('x' || substr(md5(document_id::text || ':' || revision_id::text), 1, 16))::bit(64)::bigint"


def row_hash(document_id: int, revision_id: int) -> int:
    return int(hashlib.md5(f"{document_id}:{revision_id}".encode()).hexdigest()[:16], 16)  # noqa: S324 - not security


def fingerprint(count: int, total: int) -> str:
    return f"{count}:{total % _MODULUS:016x}"


def fingerprint_parts(value: str | None) -> tuple[int, int]:
    if not value or ":" not in value:
        return 0, 0
    count, total = value.split(":", 1)
    return int(count), int(total, 16)


def fingerprints_adjusted(base: dict[str, str], changes: dict) -> dict[str, str]:
    """``base``'s fingerprints with the rows of ``changes`` (``{document: (before, after)}``) swapped."""
    parts = {source: list(fingerprint_parts(value)) for source, value in base.items()}
    for document_id, (before, after) in changes.items():
        for row, sign in ((before, -1), (after, 1)):
            if row is None:
                continue
            revision_id, source_id = row
            entry = parts.setdefault(str(source_id), [0, 0])
            entry[0] += sign
            entry[1] += sign * row_hash(document_id, revision_id)
    return {source: fingerprint(count, total) for source, (count, total) in sorted(parts.items()) if count > 0}


def fingerprints_computed(version_id: int) -> dict[str, str]:
    """From scratch (a version without a base of the same content, and the data migration)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT source_id, count(*), sum(({ROW_HASH_SQL})::numeric)
            FROM {_SPANS} WHERE valid_from <= %(version)s AND valid_to > %(version)s
            GROUP BY source_id
            """,
            {"version": version_id},
        )
        return {str(source): fingerprint(count, int(total)) for source, count, total in cursor.fetchall()}


def chunk_counts(*, pipeline_id: int, revision_ids) -> dict[int, int]:
    rows = (
        Chunk.objects.filter(pipeline_id=pipeline_id, revision_id__in=list(revision_ids))
        .values("revision_id")
        .annotate(n=Count("id"))
        .values_list("revision_id", "n")
    )
    return dict(rows)


def counts_adjusted(*, version: IndexVersion, base: IndexVersion | None, changes: dict) -> dict[str, int]:
    """``{documents, chunks}`` of ``version``: its base's plus what its changes add and remove."""
    revisions = {row[0] for pair in changes.values() for row in pair if row is not None}
    per_revision = chunk_counts(pipeline_id=version.pipeline_id, revision_ids=revisions)
    documents = (base.counts.get("documents", 0) if base is not None else 0) + sum(
        (after is not None) - (before is not None) for before, after in changes.values()
    )
    chunks = (base.counts.get("chunks", 0) if base is not None else 0) + sum(
        (per_revision.get(after[0], 0) if after else 0) - (per_revision.get(before[0], 0) if before else 0)
        for before, after in changes.values()
    )
    return {"documents": documents, "chunks": chunks}


def counts_computed(*, version: IndexVersion) -> dict[str, int]:
    """From scratch: for a version whose pipeline differs from its base's (a rebuild)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT count(*), coalesce(sum(c.n), 0) FROM {_SPANS} s
            LEFT JOIN (SELECT revision_id, count(*) AS n FROM {Chunk._meta.db_table}
                       WHERE pipeline_id = %(pipeline)s GROUP BY revision_id) c ON c.revision_id = s.revision_id
            WHERE s.valid_from <= %(version)s AND s.valid_to > %(version)s
            """,
            {"pipeline": version.pipeline_id, "version": version.pk},
        )
        documents, chunks = cursor.fetchone()
    return {"documents": documents, "chunks": int(chunks)}


def bytes_owned(*, version: IndexVersion) -> int:
    """Bytes of the rows this version added: its new spans and the revisions no earlier version held."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT coalesce(sum(pg_column_size(s.*)), 0)
                 + coalesce(sum(pg_column_size(r.*)) FILTER (WHERE NOT EXISTS (
                       SELECT 1 FROM {_SPANS} earlier
                       WHERE earlier.revision_id = s.revision_id AND earlier.valid_from < %(version)s)), 0)
            FROM {_SPANS} s JOIN {_REVISION} r ON r.id = s.revision_id
            WHERE s.valid_from = %(version)s
            """,
            {"version": version.pk},
        )
        return int(cursor.fetchone()[0])
