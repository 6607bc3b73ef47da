"""Chunks and content-addressed embeddings of revisions, and the vector indexes they are searched by."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction

from index_versions import embedding
from index_versions.chunking import ChunkSpec
from index_versions.models import Chunk, Embedding, Pipeline
from index_versions.services.keyword_postings import keyword_postings_add
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
    so it is raised for this transaction only. ``ef_construction`` 128, as migration 0016 rebuilt the
    others with: a better graph lifts filtered recall at a million chunks (docs/search.md).
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('maintenance_work_mem', %s, true)", [settings.HNSW_BUILD_MEMORY])
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS embedding_vector_{int(dimensions)}_hnsw ON {_EMBEDDING} "
            f"USING hnsw ((vector::vector({int(dimensions)})) vector_cosine_ops) "
            f"WITH (m = 16, ef_construction = 128) WHERE dimensions = {int(dimensions)}"
        )


@dataclass
class ChunkPlan:
    """What storing some revisions' chunks needs: their chunks, and which texts have no vector yet.

    Made by :func:`revision_chunks_plan` (reads and chunking), embedded by anyone
    (:func:`index_versions.embedding.embed_texts`, possibly on another thread), stored
    by :func:`chunk_plan_store`: the sync overlaps the three across batches.
    """

    pipeline: Pipeline
    specs_by_revision: dict[int, list[ChunkSpec]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # text hash -> the text the model reads
    known: dict[str, int] = field(default_factory=dict)  # text hash -> embedding id
    missing: list[str] = field(default_factory=list)  # text hashes to embed, longest first
    later: list[str] = field(default_factory=list)  # text hashes another plan embeds (stored before this one)

    @property
    def missing_texts(self) -> list[str]:
        return [self.texts[text_hash] for text_hash in self.missing]

    def leave_to(self, other: "ChunkPlan") -> None:
        """Texts ``other`` is embedding already are not embedded twice; they must be stored before this plan."""
        theirs = set(other.missing)
        self.later = [text_hash for text_hash in self.missing if text_hash in theirs]
        self.missing = [text_hash for text_hash in self.missing if text_hash not in theirs]


def revision_chunks_plan(*, revision_ids: Iterable[int], pipeline: Pipeline) -> ChunkPlan:
    """Chunk every revision that has no chunks under ``pipeline`` yet and look up their known vectors.

    Embeddings are content-addressed by (model, text hash): text embedded before,
    in any document or version, is reused and not computed again. Writes nothing.
    """
    plan = ChunkPlan(pipeline=pipeline)
    revision_ids = set(revision_ids)
    done = set(
        Chunk.objects.filter(pipeline=pipeline, revision_id__in=revision_ids).values_list("revision_id", flat=True)
    )
    todo = DocumentRevision.objects.filter(pk__in=revision_ids - done).only("id", "content", "title")
    plan.specs_by_revision = {
        revision.pk: pipeline_chunks(pipeline=pipeline, text=revision.content, title=revision.title)
        for revision in todo
    }
    if not plan.specs_by_revision:
        return plan
    # Content-addressed by what the model reads: the same text under another title is another vector.
    plan.texts = {
        embedding.text_hash(spec.embedding_text): spec.embedding_text
        for specs in plan.specs_by_revision.values()
        for spec in specs
    }
    plan.known = dict(
        Embedding.objects.filter(model=pipeline.embedding_model, text_hash__in=list(plan.texts)).values_list(
            "text_hash", "id"
        )
    )
    # Longest first, so each forward pass holds texts of about one length (little padding).
    plan.missing = sorted(
        (text_hash for text_hash in plan.texts if text_hash not in plan.known), key=lambda h: -len(plan.texts[h])
    )
    return plan


@transaction.atomic
def chunk_plan_store(*, plan: ChunkPlan, vectors: Sequence) -> dict[str, int]:
    """Store the plan's new vectors (one per ``plan.missing``), its chunks and their keyword postings.

    A fixed number of statements, atomic, so a revision has all its chunks and postings
    or none (a killed worker leaves none, and the revision is chunked again). Returns
    ``{"chunks", "embeddings_computed", "embeddings_reused", "bytes"}``, where ``bytes``
    is the size of the rows it added (postings not counted).
    """
    stats = {"chunks": 0, "embeddings_computed": 0, "embeddings_reused": 0, "bytes": 0}
    if not plan.specs_by_revision:
        return stats
    pipeline, known, missing = plan.pipeline, dict(plan.known), plan.missing
    Embedding.objects.bulk_create(
        [
            Embedding(model=pipeline.embedding_model, text_hash=text_hash, dimensions=len(vector), vector=vector)
            for text_hash, vector in zip(missing, vectors, strict=True)
        ],
        ignore_conflicts=True,  # another worker may have embedded the same text meanwhile
        batch_size=1000,
    )
    if missing or plan.later:
        known.update(
            Embedding.objects.filter(model=pipeline.embedding_model, text_hash__in=missing + plan.later).values_list(
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
        for revision_id, specs in plan.specs_by_revision.items()
        for ordinal, spec in enumerate(specs)
    ]
    Chunk.objects.bulk_create(chunks, ignore_conflicts=True, batch_size=1000)
    # Here rather than at the version build: the sync overlaps this with the next group's embedding.
    keyword_postings_add(pipeline_id=pipeline.pk, revision_ids=list(plan.specs_by_revision))
    stats["chunks"] = len(chunks)
    stats["embeddings_computed"] = len(missing)
    stats["embeddings_reused"] = len(plan.texts) - len(missing)
    stats["bytes"] = scalar(
        f"SELECT (SELECT sum(pg_column_size(c.*)) FROM {_CHUNK} c WHERE c.pipeline_id = %s AND c.revision_id = ANY(%s))"
        f" + coalesce((SELECT sum(pg_column_size(e.*)) FROM {_EMBEDDING} e"
        f"  WHERE e.model = %s AND e.text_hash = ANY(%s)), 0)",
        [pipeline.pk, list(plan.specs_by_revision), pipeline.embedding_model, missing],
    )
    return stats


def revision_chunks_ensure(*, revision_ids: Iterable[int], pipeline: Pipeline) -> dict[str, int]:
    """Chunk and embed every revision that has no chunks under ``pipeline`` yet, in this thread.

    Plan, embed, store (see :class:`ChunkPlan`); returns :func:`chunk_plan_store`'s figures.
    """
    plan = revision_chunks_plan(revision_ids=revision_ids, pipeline=pipeline)
    vectors = embedding.embed_texts(plan.missing_texts, model=pipeline.embedding_model)
    return chunk_plan_store(plan=plan, vectors=vectors)
