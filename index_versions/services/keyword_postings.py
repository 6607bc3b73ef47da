"""The keyword leg's inverted index: one posting per (chunk, lexeme), best first within a lexeme.

Postings are written with their chunks (:func:`index_versions.services.storage.chunk_plan_store`),
in the same transaction, once per chunk whatever the number of versions that hold it,
and leave with their chunk (garbage collection, purge). Why the leg reads them: ``docs/search.md``.
"""

from django.conf import settings
from django.db import connection

from index_versions.models import Chunk, KeywordPosting
from sources.models import Document, DocumentRevision

_POSTING = KeywordPosting._meta.db_table
_CHUNK = Chunk._meta.db_table
_REVISION = DocumentRevision._meta.db_table
_DOCUMENT = Document._meta.db_table

# The BM25 weight of the lexeme in the chunk, at the average length of the chunks written together: an
# order within a lexeme (the search rescores its candidates with the live statistics).
_INSERT = f"""
    WITH fresh AS MATERIALIZED (
        SELECT c.id, c.pipeline_id, c.revision_id, r.document_id, d.source_id, c.search_vector,
               length(c.search_vector) AS length
        FROM {_CHUNK} c
        JOIN {_REVISION} r ON r.id = c.revision_id
        JOIN {_DOCUMENT} d ON d.id = r.document_id
        WHERE c.revision_id = ANY(%(revisions)s) AND c.pipeline_id = %(pipeline)s
          AND NOT EXISTS (SELECT 1 FROM {_POSTING} p WHERE p.chunk_id = c.id)
    ), average AS (
        SELECT greatest(avg(length), 1)::float8 AS length FROM fresh
    )
    INSERT INTO {_POSTING}
        (chunk_id, lexeme, pipeline_id, revision_id, document_id, source_id, frequency, length, impact)
    SELECT f.id, u.lexeme, f.pipeline_id, f.revision_id, f.document_id, f.source_id, t.frequency, f.length,
           t.frequency * (%(k1)s + 1)
           / (t.frequency + %(k1)s * (1 - %(b)s + %(b)s * f.length / a.length))
    FROM fresh f CROSS JOIN average a, unnest(f.search_vector) u
    CROSS JOIN LATERAL (SELECT coalesce(array_length(u.positions, 1), 1) AS frequency) t
    ON CONFLICT DO NOTHING
"""


def keyword_postings_add(*, pipeline_id: int, revision_ids: list[int]) -> None:
    """Postings of the chunks ``pipeline_id`` cut from ``revision_ids``; chunks that have them are skipped."""
    if not revision_ids:
        return
    params = {"revisions": list(revision_ids), "pipeline": pipeline_id, "k1": settings.BM25_K1, "b": settings.BM25_B}
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, params)
