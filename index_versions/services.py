"""Writes on index versions: building, activation and rollback, per-source revert,
pipeline rebuilds, pinning, retention and garbage collection.

Versions are immutable once ready: every operation here creates a version or
flips a state; only a compliance purge (``sources.services.document_purge``)
removes rows from existing versions.
"""

import hashlib
import json
import logging
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from rest_framework import status

from acl.services import audit_record
from index_versions import embedding
from index_versions.chunking import ChunkSpec, chunk_text
from index_versions.models import Activation, Chunk, Embedding, IndexVersion, Pipeline, VersionDocument
from ragplatform.errors import ApplicationError
from sources.models import DocumentRevision, Source

logger = logging.getLogger(__name__)

# Serialises "read the active version, derive a new one from it, activate": two
# syncs finishing together must not each copy the same parent and lose the other's change.
_VERSION_LOCK_KEY = 0x1D5_0001

_VD = VersionDocument._meta.db_table
_CHUNK = Chunk._meta.db_table
_EMBEDDING = Embedding._meta.db_table
_REVISION = DocumentRevision._meta.db_table


def _lock_versions() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_VERSION_LOCK_KEY])


def _scalar(sql: str, params) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0] or 0)


# --- pipelines ----------------------------------------------------------------


STRUCTURED_CHUNKER = "structured"


def pipeline_get_or_create(*, max_tokens: int | None, overlap_tokens: int, embedding_model: str) -> Pipeline:
    """The pipeline with these settings, created on first use (identified by a hash of them).

    ``max_tokens`` counts the model's tokens of what is embedded (title, section
    path and text); ``None`` or 0 means the model's whole window, and more than the
    window is refused, since the model would silently drop the rest.
    """
    window = embedding.max_input_tokens(embedding_model)
    max_tokens = max_tokens or window
    if max_tokens > window:
        raise ApplicationError(
            f"max_tokens {max_tokens} is more than {embedding_model} reads ({window} tokens).",
            details={"max_tokens": [f"must be at most {window} for this model"]},
        )
    if not 0 <= overlap_tokens < max_tokens // 2:
        raise ApplicationError(
            "overlap_tokens must be at least 0 and less than half of max_tokens.",
            details={"overlap_tokens": [f"must be in [0, {max_tokens // 2})"]},
        )
    chunker = {"name": STRUCTURED_CHUNKER, "max_tokens": max_tokens, "overlap_tokens": overlap_tokens}
    key_source = json.dumps({"chunker": chunker, "model": embedding_model}, sort_keys=True)
    key = hashlib.sha256(key_source.encode()).hexdigest()
    pipeline = Pipeline.objects.filter(key=key).first()
    if pipeline is None:
        dimensions = embedding.dimensions(embedding_model)
        pipeline, _ = Pipeline.objects.get_or_create(
            key=key, defaults={"chunker": chunker, "embedding_model": embedding_model, "dimensions": dimensions}
        )
    return pipeline


def pipeline_current() -> Pipeline:
    """The pipeline the settings describe (the default for the first version and for rebuilds)."""
    return pipeline_get_or_create(
        max_tokens=settings.CHUNK_MAX_TOKENS,
        overlap_tokens=settings.CHUNK_OVERLAP_TOKENS,
        embedding_model=embedding.model_name(),
    )


def pipeline_for_sync() -> Pipeline:
    """Syncs extend the active version with its own pipeline; changing pipeline is a rebuild."""
    active = index_version_active()
    return active.pipeline if active is not None else pipeline_current()


def pipeline_derive(
    *, max_tokens: int | None = None, overlap_tokens: int | None = None, embedding_model: str | None = None
) -> Pipeline:
    """The active pipeline with the given settings changed (what a rebuild asks for).

    A new embedding model without a size gets that model's whole window.
    """
    base = pipeline_for_sync()
    model = embedding_model or base.embedding_model
    same_model = model == base.embedding_model
    return pipeline_get_or_create(
        max_tokens=max_tokens if max_tokens is not None else (base.chunker.get("max_tokens") if same_model else None),
        overlap_tokens=overlap_tokens
        if overlap_tokens is not None
        else base.chunker.get("overlap_tokens", settings.CHUNK_OVERLAP_TOKENS),
        embedding_model=model,
    )


def pipeline_chunks(*, pipeline: Pipeline, text: str, title: str) -> list[ChunkSpec]:
    """``text`` cut as ``pipeline`` says: in its model's tokens, or in words for pipelines of the
    earlier word-based chunker (which embedded the bare text)."""
    chunker = pipeline.chunker
    if chunker.get("name") == STRUCTURED_CHUNKER:
        return chunk_text(
            text,
            title=title,
            max_tokens=chunker["max_tokens"],
            overlap_tokens=chunker["overlap_tokens"],
            count_tokens=embedding.token_counter(pipeline.embedding_model),
            windows=embedding.token_windows(pipeline.embedding_model),
        )
    return chunk_text(
        text,
        title=title,
        max_tokens=chunker["max_words"],
        overlap_tokens=chunker["overlap_words"],
        embed_context=False,
    )


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


# --- chunks and embeddings -----------------------------------------------------


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
    stats["bytes"] = _scalar(
        f"SELECT (SELECT sum(pg_column_size(c.*)) FROM {_CHUNK} c WHERE c.pipeline_id = %s AND c.revision_id = ANY(%s))"
        f" + coalesce((SELECT sum(pg_column_size(e.*)) FROM {_EMBEDDING} e"
        f"  WHERE e.model = %s AND e.text_hash = ANY(%s)), 0)",
        [pipeline.pk, list(specs_by_revision), pipeline.embedding_model, missing],
    )
    return stats


# --- building versions ----------------------------------------------------------


def index_version_active() -> IndexVersion | None:
    return IndexVersion.objects.filter(state=IndexVersion.State.ACTIVE).select_related("pipeline").first()


def _version_finish(version: IndexVersion, *, embeddings_computed: int, bytes_added: int) -> None:
    """Chunk what is missing, count, fingerprint each source, and mark the version ready."""
    revision_ids = list(VersionDocument.objects.filter(version=version).values_list("revision_id", flat=True))
    # Inherited revisions lack chunks when the pipeline changed; then they are built here.
    stats = revision_chunks_ensure(revision_ids=revision_ids, pipeline=version.pipeline)
    computed = embeddings_computed + stats["embeddings_computed"]
    chunks = Chunk.objects.filter(pipeline=version.pipeline, revision_id__in=revision_ids).count()
    parent_id = version.parent_id or 0
    own_rows = _scalar(
        f"""
        SELECT coalesce(sum(pg_column_size(vd.*)), 0)
             + coalesce(sum(pg_column_size(r.*)) FILTER (WHERE NOT EXISTS (
                   SELECT 1 FROM {_VD} p WHERE p.version_id = %s AND p.revision_id = vd.revision_id)), 0)
        FROM {_VD} vd JOIN {_REVISION} r ON r.id = vd.revision_id
        WHERE vd.version_id = %s
        """,
        [parent_id, version.pk],
    )
    version.counts = {
        "documents": len(revision_ids),
        "chunks": chunks,
        "embeddings_computed": computed,
        "embeddings_reused": max(chunks - computed, 0),
        "bytes": own_rows + bytes_added + stats["bytes"],
    }
    version.source_fingerprints = _source_fingerprints(version.pk)
    version.state = IndexVersion.State.READY
    version.ready_at = timezone.now()
    version.save(update_fields=["counts", "source_fingerprints", "state", "ready_at"])
    # Duplicate groups are a property of the version's content; search collapses them per user.
    from retrieval.services import duplicates_compute  # retrieval imports this module

    duplicates_compute(version=version)


def _source_fingerprints(version_id: int) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT source_id, md5(string_agg(document_id || ':' || revision_id, ',' ORDER BY document_id))
            FROM {_VD} WHERE version_id = %s GROUP BY source_id
            """,
            [version_id],
        )
        return {str(source_id): fingerprint for source_id, fingerprint in cursor.fetchall()}


@transaction.atomic
def index_version_build_for_source(
    *,
    source_id: int,
    revisions: dict[int, int],
    pipeline: Pipeline,
    actor=None,
    note: str = "",
    activate: bool = True,
    embeddings_computed: int = 0,
    bytes_added: int = 0,
    activation_reason: str = "sync",
) -> IndexVersion:
    """Create a version equal to the active one except that source ``source_id`` holds ``revisions``.

    ``revisions`` maps document id to revision id: the source's complete content in
    the new version (documents absent from it are deleted there, and only there).
    The new version is ready when this returns, and active if ``activate``.
    Callers embed new revisions beforehand, outside the version lock, with
    :func:`revision_chunks_ensure`, and pass on what that computed and stored.
    """
    _lock_versions()
    parent = index_version_active()
    version = IndexVersion.objects.create(
        state=IndexVersion.State.BUILDING, pipeline=pipeline, parent=parent, note=note[:500], created_by=actor
    )
    if parent is not None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {_VD} (version_id, document_id, revision_id, source_id)
                SELECT %s, document_id, revision_id, source_id FROM {_VD}
                WHERE version_id = %s AND source_id <> %s
                """,
                [version.pk, parent.pk, source_id],
            )
    VersionDocument.objects.bulk_create(
        [
            VersionDocument(version=version, document_id=document_id, revision_id=revision_id, source_id=source_id)
            for document_id, revision_id in revisions.items()
        ],
        batch_size=1000,
    )
    _version_finish(version, embeddings_computed=embeddings_computed, bytes_added=bytes_added)
    if activate:
        version = index_version_activate(version=version, actor=actor, reason=activation_reason)
    return version


def index_version_revert_source(*, source: Source, version: IndexVersion, actor=None) -> IndexVersion:
    """Restore ``source`` as it was in ``version``: a new active version, nothing re-embedded.

    Every other source keeps its content from the active version. The source's
    scheduled syncs are paused so the next one does not silently undo the revert.
    """
    if version.state not in (IndexVersion.State.READY, IndexVersion.State.ACTIVE, IndexVersion.State.RETIRED):
        raise ApplicationError(
            f"Version {version.pk} is {version.state}; revert from a ready, active or retired version.",
            code="not_revertable",
            status_code=status.HTTP_409_CONFLICT,
        )
    revisions = dict(version.entries.filter(source=source).values_list("document_id", "revision_id"))
    pipeline = pipeline_for_sync()
    # Outside the lock, and a no-op unless the active pipeline differs from the version's.
    work = revision_chunks_ensure(revision_ids=revisions.values(), pipeline=pipeline)
    with transaction.atomic():
        new_version = index_version_build_for_source(
            source_id=source.pk,
            revisions=revisions,
            pipeline=pipeline,
            actor=actor,
            note=f"revert {source.name} to version {version.pk}",
            embeddings_computed=work["embeddings_computed"],
            bytes_added=work["bytes"],
            activation_reason=f"revert of source {source.pk} to version {version.pk}",
        )
        audit_record(
            actor=actor,
            action="source.revert",
            target=f"source:{source.pk}",
            details={"from_version": version.pk, "new_version": new_version.pk},
        )
    return new_version


@transaction.atomic
def index_version_rebuild(*, pipeline: Pipeline, actor=None) -> IndexVersion:
    """Start a complete new version of the active content under another pipeline.

    Returns the version in state ``building``; a worker chunks and embeds it (see
    :func:`index_version_rebuild_run`) while the active version keeps serving. It
    is not activated: an operator compares and activates it.
    """
    from index_versions.tasks import rebuild_version_task

    _lock_versions()
    parent = index_version_active()
    version = IndexVersion.objects.create(
        state=IndexVersion.State.BUILDING,
        pipeline=pipeline,
        parent=parent,
        note=f"rebuild with pipeline {pipeline.pk}",
        created_by=actor,
    )
    if parent is not None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {_VD} (version_id, document_id, revision_id, source_id)
                SELECT %s, document_id, revision_id, source_id FROM {_VD} WHERE version_id = %s
                """,
                [version.pk, parent.pk],
            )
    audit_record(actor=actor, action="index_version.rebuild", target=f"index_version:{version.pk}")
    transaction.on_commit(lambda: rebuild_version_task.delay(version.pk))
    return version


def index_version_rebuild_run(*, version_id: int) -> IndexVersion | None:
    """Chunk and embed a building version; it ends ready, or failed with the reason in its note."""
    version = IndexVersion.objects.select_related("pipeline").filter(pk=version_id).first()
    if version is None or version.state != IndexVersion.State.BUILDING:
        return None  # a redelivered task: the work was done
    try:
        vector_index_ensure(dimensions=version.pipeline.dimensions)
        revision_ids = VersionDocument.objects.filter(version=version).values_list("revision_id", flat=True)
        # The expensive part, in batches and outside any long transaction.
        work = {"embeddings_computed": 0, "bytes": 0}
        ids = list(revision_ids)
        for start in range(0, len(ids), 200):
            stats = revision_chunks_ensure(revision_ids=ids[start : start + 200], pipeline=version.pipeline)
            work["embeddings_computed"] += stats["embeddings_computed"]
            work["bytes"] += stats["bytes"]
        with transaction.atomic():
            _version_finish(version, embeddings_computed=work["embeddings_computed"], bytes_added=work["bytes"])
    except Exception as exc:
        logger.exception("rebuild of version %s failed", version_id)
        IndexVersion.objects.filter(pk=version_id).update(
            state=IndexVersion.State.FAILED, note=f"rebuild failed: {type(exc).__name__}: {exc}"[:500]
        )
    version.refresh_from_db()
    return version


# --- activation -------------------------------------------------------------------


@transaction.atomic
def index_version_activate(*, version: IndexVersion, actor=None, reason: str = "manual") -> IndexVersion:
    """Make ``version`` the one searched: a single-row state switch, no data copied.

    Queries running meanwhile read the old version to their end (they resolved the
    version id first and versions never change), later ones read the new one. An
    activation that is not a sync's own (a rollback, a roll-forward, a revert)
    pauses the scheduled syncs of every source whose content differs between the
    two versions, so the next sync does not silently undo the operator's choice.
    """
    _lock_versions()
    version = IndexVersion.objects.select_for_update().select_related("pipeline").get(pk=version.pk)
    if version.state == IndexVersion.State.ACTIVE:
        return version
    if version.state not in IndexVersion.ACTIVATABLE:
        raise ApplicationError(
            f"Version {version.pk} is {version.state}; only ready or retired versions can be activated.",
            code="not_activatable",
            details={"state": version.state},
            status_code=status.HTTP_409_CONFLICT,
        )
    previous = IndexVersion.objects.select_for_update().filter(state=IndexVersion.State.ACTIVE).first()
    if previous is not None:
        previous.state = IndexVersion.State.RETIRED
        previous.save(update_fields=["state"])
    version.state = IndexVersion.State.ACTIVE
    version.activated_at = timezone.now()
    version.save(update_fields=["state", "activated_at"])
    Activation.objects.create(from_version=previous, to_version=version, actor=actor, reason=reason[:200])

    paused = []
    if reason != "sync" and previous is not None:
        paused = _changed_sources(previous, version)
        Source.objects.filter(pk__in=paused, sync_paused_at__isnull=True).update(
            sync_paused_at=version.activated_at,
            sync_paused_reason=f"index version {version.pk} activated ({reason})"[:200],
        )
    audit_record(
        actor=actor,
        action="index_version.activate",
        target=f"index_version:{version.pk}",
        details={"from": previous and previous.pk, "reason": reason, "paused_sources": paused},
    )
    logger.info("index version %s activated (was %s) by %s", version.pk, previous and previous.pk, actor)
    return version


def _changed_sources(one: IndexVersion, other: IndexVersion) -> list[int]:
    a, b = one.source_fingerprints, other.source_fingerprints
    return sorted(int(source_id) for source_id in set(a) | set(b) if a.get(source_id) != b.get(source_id))


@transaction.atomic
def index_version_pin(*, version: IndexVersion, pinned: bool = True, actor=None) -> IndexVersion:
    IndexVersion.objects.filter(pk=version.pk).update(pinned=pinned)
    audit_record(
        actor=actor,
        action="index_version.pin" if pinned else "index_version.unpin",
        target=f"index_version:{version.pk}",
    )
    version.refresh_from_db()
    return version


# --- retention ----------------------------------------------------------------------


@transaction.atomic
def index_versions_retain(*, keep: int | None = None) -> dict[str, int]:
    """Delete versions beyond the newest ``keep`` (default ``INDEX_VERSIONS_KEEP``), then collect garbage.

    The active version, pinned versions and versions still building are always kept.
    Returns counts of what was deleted.
    """
    keep = settings.INDEX_VERSIONS_KEEP if keep is None else keep
    _lock_versions()
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
        audit_record(actor=None, action="index_version.retention", details={"deleted": deleted_versions, **collected})
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
