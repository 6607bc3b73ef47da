"""Search: nearest chunks in the active index version, under the caller's ACL."""

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from acl.selectors import visibility_condition
from index_versions import embedding
from index_versions.models import Chunk, Embedding, IndexVersion, VersionDocument
from index_versions.services import index_version_active
from sources.models import DocumentRevision


@dataclass(frozen=True)
class SearchHit:
    chunk_id: int
    document_id: int
    document_title: str
    source_id: int
    uri: str
    section: str
    text: str
    score: float


@dataclass(frozen=True)
class SearchOutcome:
    results: list[SearchHit]
    index_version: int | None
    took_ms: float


def vector_search(*, user, version: IndexVersion, query_vector, k: int) -> list[SearchHit]:
    """The k chunks of ``version`` nearest to ``query_vector`` that ``user`` may read.

    The ACL condition sits inside the SQL, next to the version membership, so a
    chunk the user may not read never leaves the database. The ORDER BY expression
    matches the partial HNSW index on ``vector::vector(N)``; pgvector 0.8's
    iterative scan keeps reading the index until ``k`` rows pass the filters
    (instead of returning the few of the first ``ef_search`` candidates that do),
    and the outer query restores exact order after its relaxed ordering.
    """
    dims = version.pipeline.dimensions
    acl_sql, acl_params = visibility_condition(user=user, source_column="vd.source_id")
    sql = f"""
        WITH nearest AS MATERIALIZED (
            SELECT c.id AS chunk_id, vd.document_id, vd.source_id, c.revision_id, c.section, c.text,
                   e.vector::vector({dims}) <=> %s::vector({dims}) AS distance
            FROM {Embedding._meta.db_table} e
            JOIN {Chunk._meta.db_table} c ON c.embedding_id = e.id AND c.pipeline_id = %s
            JOIN {VersionDocument._meta.db_table} vd ON vd.revision_id = c.revision_id AND vd.version_id = %s
            WHERE e.dimensions = {dims} AND e.model = %s AND {acl_sql}
            ORDER BY distance
            LIMIT %s
        )
        SELECT n.chunk_id, n.document_id, r.title, n.source_id, r.uri, n.section, n.text, 1 - n.distance
        FROM nearest n
        JOIN {DocumentRevision._meta.db_table} r ON r.id = n.revision_id
        ORDER BY n.distance, n.chunk_id
    """
    params = [
        embedding_literal(query_vector),
        version.pipeline_id,
        version.pk,
        version.pipeline.embedding_model,
        *acl_params,
        k,
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        # SET LOCAL: scoped to this transaction, so it never leaks to a pooled connection.
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(settings.HNSW_EF_SEARCH)])
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [SearchHit(*row[:7], score=float(row[7])) for row in rows]


def embedding_literal(vector) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


def search(*, user, query: str, k: int) -> SearchOutcome:
    """Embed ``query`` and search the active version as ``user``."""
    started = time.perf_counter()
    version = index_version_active()
    if version is None:
        return SearchOutcome(results=[], index_version=None, took_ms=_elapsed_ms(started))
    query_vector = embedding.embed_query(query, model=version.pipeline.embedding_model)
    hits = vector_search(user=user, version=version, query_vector=query_vector, k=k)
    return SearchOutcome(results=hits, index_version=version.pk, took_ms=_elapsed_ms(started))


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
