"""Chunks and content-addressed embeddings of revisions, and the vector indexes they are searched by."""

from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction

from index_versions import embedding
from index_versions.models import Chunk, Embedding, Pipeline
from index_versions.services.pipelines import pipeline_chunks
from sources.models import DocumentRevision

_CHUNK = Chunk._meta.db_table
_EMBEDDING = Embedding._meta.db_table


def scalar(sql: str, params) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0] or 0)


def vector_index_ensure(*, dimensions: int) -> None:
    """A partial HNSW index for vectors of this dimension (one per dimension in use).

    The build is many times faster when the graph fits in ``maintenance_work_mem``,
    so it is raised for this transaction only.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('maintenance_work_mem', %s, true)", [settings.HNSW_BUILD_MEMORY])
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS embedding_vector_{int(dimensions)}_hnsw ON {_EMBEDDING} "
            f"USING hnsw ((vector::vector({int(dimensions)})) vector_cosine_ops) "
            f"WITH (m = 16, ef_construction = 64) WHERE dimensions = {int(dimensions)}"
        )


def revision_chunks_ensure(*, revision_ids: Iterable[int], pipeline: Pipeline) -> dict[str, int]:
    """Chunk and embed every revision that has no chunks under ``pipeline`` yet.

    Embeddings are content-addressed by (model, text hash): text embedded before,
    in any document or version, is reused and not computed again. Returns
    ``{"chunks", "embeddings_computed", "embeddings_reused", "bytes"}``, where
    ``bytes`` is the size of the chunk and embedding rows this call added.
    """
    stats = {"chunks": 0, "embeddings_computed": 0, "embeddings_reused": 0, "bytes": 0}
    revision_ids = set(revision_ids)
    done = set(
        Chunk.objects.filter(pipeline=pipeline, revision_id__in=revision_ids).values_list("revision_id", flat=True)
    )
    todo = DocumentRevision.objects.filter(pk__in=revision_ids - done).only("id", "content", "title")
    specs_by_revision = {
        revision.pk: pipeline_chunks(pipeline=pipeline, text=revision.content, title=revision.title)
        for revision in todo
    }
    if not specs_by_revision:
        return stats

    # Content-addressed by what the model reads: the same text under another title is another vector.
    texts = {
        embedding.text_hash(spec.embedding_text): spec.embedding_text
        for specs in specs_by_revision.values()
        for spec in specs
    }
    known = dict(
        Embedding.objects.filter(model=pipeline.embedding_model, text_hash__in=list(texts)).values_list(
            "text_hash", "id"
        )
    )
    missing = [text_hash for text_hash in texts if text_hash not in known]
    vectors = embedding.embed_texts([texts[text_hash] for text_hash in missing], model=pipeline.embedding_model)
    Embedding.objects.bulk_create(
        [
            Embedding(model=pipeline.embedding_model, text_hash=text_hash, dimensions=len(vector), vector=vector)
            for text_hash, vector in zip(missing, vectors, strict=True)
        ],
        ignore_conflicts=True,  # another worker may have embedded the same text meanwhile
        batch_size=1000,
    )
    if missing:
        known.update(
            Embedding.objects.filter(model=pipeline.embedding_model, text_hash__in=missing).values_list(
                "text_hash", "id"
            )
        )
    chunks = [
        Chunk(
            revision_id=revision_id,
            pipeline=pipeline,
            ordinal=ordinal,
            section=spec.section[:1000],
            context=spec.context[:1000],
            text=spec.text,
            embedding_id=known[embedding.text_hash(spec.embedding_text)],
        )
        for revision_id, specs in specs_by_revision.items()
        for ordinal, spec in enumerate(specs)
    ]
    Chunk.objects.bulk_create(chunks, ignore_conflicts=True, batch_size=1000)
    stats["chunks"] = len(chunks)
    stats["embeddings_computed"] = len(missing)
    stats["embeddings_reused"] = len(texts) - len(missing)
    stats["bytes"] = scalar(
        f"SELECT (SELECT sum(pg_column_size(c.*)) FROM {_CHUNK} c WHERE c.pipeline_id = %s AND c.revision_id = ANY(%s))"
        f" + coalesce((SELECT sum(pg_column_size(e.*)) FROM {_EMBEDDING} e"
        f"  WHERE e.model = %s AND e.text_hash = ANY(%s)), 0)",
        [pipeline.pk, list(specs_by_revision), pipeline.embedding_model, missing],
    )
    return stats
