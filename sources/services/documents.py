"""Storing what a sync parsed: documents and their revisions, a batch at a time in set-based statements."""

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction

from sources.models import Document, DocumentRevision

_DOCUMENT = Document._meta.db_table
_REVISION = DocumentRevision._meta.db_table


@dataclass(frozen=True)
class ParsedDocument:
    """One document as its source listed it and its parser read it."""

    external_id: str
    title: str
    uri: str
    content_hash: str
    text: str
    modified_at: datetime | None = None
    version: str = ""
    metadata: dict = field(default_factory=dict)


@transaction.atomic
def documents_store(*, source_id: int, parsed: list[ParsedDocument]) -> dict[str, tuple[int, int]]:
    """Upsert the documents and insert their revisions (known content is not stored twice).

    Returns ``{external_id: (document id, revision id)}``. A purged document (a
    tombstone) is neither reopened nor given a revision: it is absent from the
    result, so its content is never taken in again. Three statements per batch.
    """
    if not parsed:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {_DOCUMENT}
                (source_id, external_id, title, uri, content_hash, modified_at, created_at, updated_at)
            SELECT %(source)s, p.external_id, p.title, p.uri, p.content_hash, p.modified_at, now(), now()
            FROM unnest(%(external_ids)s::varchar[], %(titles)s::varchar[], %(uris)s::varchar[],
                        %(hashes)s::varchar[], %(modified)s::timestamptz[])
                 AS p(external_id, title, uri, content_hash, modified_at)
            ON CONFLICT (source_id, external_id) DO UPDATE
                SET title = EXCLUDED.title, uri = EXCLUDED.uri, content_hash = EXCLUDED.content_hash,
                    modified_at = EXCLUDED.modified_at, updated_at = now()
                WHERE {_DOCUMENT}.purged_at IS NULL
            RETURNING id, external_id
            """,
            {
                "source": source_id,
                "external_ids": [p.external_id for p in parsed],
                "titles": [p.title for p in parsed],
                "uris": [p.uri for p in parsed],
                "hashes": [p.content_hash for p in parsed],
                "modified": [p.modified_at for p in parsed],
            },
        )
        documents = {external_id: document_id for document_id, external_id in cursor.fetchall()}
        kept = [p for p in parsed if p.external_id in documents]
        if not kept:
            return {}
        rows = {
            "documents": [documents[p.external_id] for p in kept],
            "hashes": [p.content_hash for p in kept],
        }
        cursor.execute(
            f"""
            INSERT INTO {_REVISION} (document_id, content_hash, title, uri, content, modified_at, version, metadata,
                                     created_at)
            SELECT r.document_id, r.content_hash, r.title, r.uri, r.content, r.modified_at, r.version, r.metadata, now()
            FROM unnest(%(documents)s::bigint[], %(hashes)s::varchar[], %(titles)s::varchar[], %(uris)s::varchar[],
                        %(texts)s::text[], %(modified)s::timestamptz[], %(versions)s::varchar[], %(metadata)s::jsonb[])
                 AS r(document_id, content_hash, title, uri, content, modified_at, version, metadata)
            ON CONFLICT (document_id, content_hash) DO NOTHING
            """,
            {
                **rows,
                "titles": [p.title for p in kept],
                "uris": [p.uri for p in kept],
                "texts": [p.text.replace("\x00", "") for p in kept],
                "modified": [p.modified_at for p in kept],
                "versions": [p.version for p in kept],
                "metadata": [json.dumps(p.metadata) for p in kept],
            },
        )
        cursor.execute(
            f"""
            SELECT r.id, r.document_id FROM {_REVISION} r
            JOIN unnest(%(documents)s::bigint[], %(hashes)s::varchar[]) AS k(document_id, content_hash)
              ON r.document_id = k.document_id AND r.content_hash = k.content_hash
            """,
            rows,
        )
        revisions = {document_id: revision_id for revision_id, document_id in cursor.fetchall()}
    return {p.external_id: (documents[p.external_id], revisions[documents[p.external_id]]) for p in kept}


@transaction.atomic
def documents_move(*, moved: dict[int, str]) -> None:
    """New URIs for documents whose content did not change (one statement)."""
    if not moved:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {_DOCUMENT} d SET uri = m.uri, updated_at = now()
            FROM unnest(%(ids)s::bigint[], %(uris)s::varchar[]) AS m(id, uri)
            WHERE d.id = m.id
            """,
            {"ids": list(moved), "uris": list(moved.values())},
        )
