"""Writes on index versions: building a version, chunking and embedding, activation."""

import hashlib
import json
import logging
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework import status

from acl.services import audit_record
from index_versions import embedding
from index_versions.chunking import chunk_text
from index_versions.models import Activation, Chunk, Embedding, IndexVersion, Pipeline, VersionDocument
from ragplatform.errors import ApplicationError
from sources.models import DocumentRevision

logger = logging.getLogger(__name__)

# Serialises "read the active version, derive a new one from it, activate": two
# syncs finishing together must not each copy the same parent and lose the other's change.
_VERSION_LOCK_KEY = 0x1D5_0001


def _lock_versions() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_VERSION_LOCK_KEY])


def pipeline_current() -> Pipeline:
    """The pipeline the settings describe now (created on first use)."""
    chunker = {
        "name": "markdown-sections",
        "max_words": settings.CHUNK_MAX_WORDS,
        "overlap_words": settings.CHUNK_OVERLAP_WORDS,
    }
    model = embedding.model_name()
    key_source = json.dumps({"chunker": chunker, "model": model}, sort_keys=True)
    key = hashlib.sha256(key_source.encode()).hexdigest()
    pipeline = Pipeline.objects.filter(key=key).first()
    if pipeline is None:
        pipeline, _ = Pipeline.objects.get_or_create(
            key=key,
            defaults={"chunker": chunker, "embedding_model": model, "dimensions": embedding.dimensions(model)},
        )
    return pipeline


def revision_chunks_ensure(*, revision_ids: Iterable[int], pipeline: Pipeline) -> dict[str, int]:
    """Chunk and embed every revision that has no chunks under ``pipeline`` yet.

    Embeddings are content-addressed by (model, text hash): text embedded before,
    in any document or version, is reused and not computed again. Returns
    ``{"chunks", "embeddings_computed", "embeddings_reused"}``.
    """
    stats = {"chunks": 0, "embeddings_computed": 0, "embeddings_reused": 0}
    revision_ids = set(revision_ids)
    done = set(
        Chunk.objects.filter(pipeline=pipeline, revision_id__in=revision_ids).values_list("revision_id", flat=True)
    )
    todo = DocumentRevision.objects.filter(pk__in=revision_ids - done).only("id", "title", "content")
    specs_by_revision = {
        revision.pk: chunk_text(
            revision.content,
            max_words=pipeline.chunker["max_words"],
            overlap_words=pipeline.chunker["overlap_words"],
        )
        for revision in todo
    }
    if not specs_by_revision:
        return stats

    texts = {embedding.text_hash(spec.text): spec.text for specs in specs_by_revision.values() for spec in specs}
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
            text=spec.text,
            embedding_id=known[embedding.text_hash(spec.text)],
        )
        for revision_id, specs in specs_by_revision.items()
        for ordinal, spec in enumerate(specs)
    ]
    Chunk.objects.bulk_create(chunks, ignore_conflicts=True, batch_size=1000)
    stats["chunks"] = len(chunks)
    stats["embeddings_computed"] = len(missing)
    stats["embeddings_reused"] = len(texts) - len(missing)
    return stats


def index_version_active() -> IndexVersion | None:
    return IndexVersion.objects.filter(state=IndexVersion.State.ACTIVE).select_related("pipeline").first()


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
) -> IndexVersion:
    """Create a version equal to the active one except that source ``source_id`` holds ``revisions``.

    ``revisions`` maps document id to revision id: the source's complete content in
    the new version (documents absent from it are deleted there, and only there).
    The new version is ready when this returns, and active if ``activate``.
    Callers embed new revisions beforehand, outside the version lock, with
    :func:`revision_chunks_ensure`, and pass on how many embeddings that computed.
    """
    _lock_versions()
    parent = index_version_active()
    version = IndexVersion.objects.create(
        state=IndexVersion.State.BUILDING, pipeline=pipeline, parent=parent, note=note, created_by=actor
    )
    if parent is not None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {VersionDocument._meta.db_table} (version_id, document_id, revision_id, source_id)
                SELECT %s, document_id, revision_id, source_id
                FROM {VersionDocument._meta.db_table}
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
    # A pipeline change means inherited revisions may lack chunks under this pipeline.
    all_revisions = list(VersionDocument.objects.filter(version=version).values_list("revision_id", flat=True))
    stats = revision_chunks_ensure(revision_ids=all_revisions, pipeline=pipeline)
    computed = embeddings_computed + stats["embeddings_computed"]
    chunks = Chunk.objects.filter(pipeline=pipeline, revision_id__in=all_revisions).count()
    version.counts = {
        "documents": len(all_revisions),
        "chunks": chunks,
        "embeddings_computed": computed,
        "embeddings_reused": max(chunks - computed, 0),
    }
    version.state = IndexVersion.State.READY
    version.ready_at = timezone.now()
    version.save(update_fields=["counts", "state", "ready_at"])
    if activate:
        index_version_activate(version=version, actor=actor, reason=note or "sync")
        version.refresh_from_db()
    return version


@transaction.atomic
def index_version_activate(*, version: IndexVersion, actor=None, reason: str = "manual") -> IndexVersion:
    """Make ``version`` the one searched: a single-row state switch, no data copied.

    Queries running meanwhile read the old version to their end (they resolved the
    version id first and versions never change), later ones read the new one.
    """
    _lock_versions()
    version = IndexVersion.objects.select_for_update().get(pk=version.pk)
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
    audit_record(
        actor=actor,
        action="index_version.activate",
        target=f"index_version:{version.pk}",
        details={"from": previous and previous.pk, "reason": reason},
    )
    logger.info("index version %s activated (was %s) by %s", version.pk, previous and previous.pk, actor)
    return version
