"""Building versions: a sync's (the active one with one source replaced), a per-source revert, a rebuild.

Each build derives from the active version under the version lock, so two builds
finishing together cannot both copy the same parent and lose each other's change.
"""

import logging

from django.db import connection, transaction
from django.utils import timezone

from acl.models import AuditEvent
from acl.services import audit_record
from index_versions.models import Chunk, IndexVersion, Pipeline, VersionDocument
from index_versions.selectors import index_version_active, version_revisions
from index_versions.services.activation import index_version_activate
from index_versions.services.duplicates import duplicates_compute
from index_versions.services.locking import versions_lock
from index_versions.services.pipelines import pipeline_for_sync
from index_versions.services.storage import revision_chunks_ensure, scalar, vector_index_ensure
from index_versions.task_names import REBUILD_VERSION_TASK
from ragplatform.celery import enqueue_on_commit
from ragplatform.exceptions import Conflict, ErrorCode
from sources.models import DocumentRevision, Source

logger = logging.getLogger(__name__)

_VD = VersionDocument._meta.db_table
_REVISION = DocumentRevision._meta.db_table


def _version_finish(version: IndexVersion, *, embeddings_computed: int, bytes_added: int) -> None:
    """Chunk what is missing, count, fingerprint each source, and mark the version ready."""
    revision_ids = list(VersionDocument.objects.filter(version=version).values_list("revision_id", flat=True))
    # Inherited revisions lack chunks when the pipeline changed; then they are built here.
    stats = revision_chunks_ensure(revision_ids=revision_ids, pipeline=version.pipeline)
    computed = embeddings_computed + stats["embeddings_computed"]
    chunks = Chunk.objects.filter(pipeline=version.pipeline, revision_id__in=revision_ids).count()
    parent_id = version.parent_id or 0
    own_rows = scalar(
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


def _membership_inherit(*, version: IndexVersion, parent: IndexVersion, except_source_id: int | None = None) -> None:
    """Copy ``parent``'s membership into ``version``, all of it or all but one source's."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {_VD} (version_id, document_id, revision_id, source_id)
            SELECT %(version)s, document_id, revision_id, source_id FROM {_VD}
            WHERE version_id = %(parent)s AND source_id IS DISTINCT FROM %(except_source)s
            """,
            {"version": version.pk, "parent": parent.pk, "except_source": except_source_id},
        )


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
    trigger: str = IndexVersion.Trigger.SYNC,
) -> IndexVersion:
    """Create a version equal to the active one except that source ``source_id`` holds ``revisions``.

    ``revisions`` maps document id to revision id: the source's complete content in
    the new version (documents absent from it are deleted there, and only there).
    The new version is ready when this returns, and active if ``activate``.
    Callers embed new revisions beforehand, outside the version lock, with
    :func:`revision_chunks_ensure`, and pass on what that computed and stored.
    """
    versions_lock()
    parent = index_version_active()
    version = IndexVersion.objects.create(
        state=IndexVersion.State.BUILDING,
        pipeline=pipeline,
        parent=parent,
        note=note[:500],
        created_by=actor,
        trigger=trigger,
        trigger_source_id=source_id,
    )
    if parent is not None:
        _membership_inherit(version=version, parent=parent, except_source_id=source_id)
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
        raise Conflict(
            f"Version {version.pk} is {version.state}; revert from a ready, active or retired version.",
            code=ErrorCode.NOT_REVERTABLE,
        )
    revisions = version_revisions(version, source_id=source.pk)
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
            trigger=IndexVersion.Trigger.REVERT,
            embeddings_computed=work["embeddings_computed"],
            bytes_added=work["bytes"],
            activation_reason=f"revert of source {source.pk} to version {version.pk}",
        )
        audit_record(
            actor=actor,
            action=AuditEvent.Action.SOURCE_REVERT,
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
    versions_lock()
    parent = index_version_active()
    version = IndexVersion.objects.create(
        state=IndexVersion.State.BUILDING,
        pipeline=pipeline,
        parent=parent,
        note=f"rebuild with pipeline {pipeline.pk}",
        trigger=IndexVersion.Trigger.REBUILD,
        created_by=actor,
    )
    if parent is not None:
        _membership_inherit(version=version, parent=parent)
    audit_record(actor=actor, action=AuditEvent.Action.VERSION_REBUILD, target=f"index_version:{version.pk}")
    enqueue_on_commit(REBUILD_VERSION_TASK, version.pk)
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
