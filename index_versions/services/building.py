"""Building versions: a sync's (the active one with one source's content replaced), a per-source revert, a rebuild.

Each build derives from the active version under the version lock, so two builds
finishing together cannot both start from the same base and lose each other's
change. A build writes only what it changes (:mod:`index_versions.services.spans`)
and derives its figures from its base's (:mod:`index_versions.services.figures`):
its cost grows with the change, not with the corpus. docs/versions.md has the design.
"""

import logging

from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError

from acl.models import AuditEvent
from acl.services import audit_record
from index_versions.models import IndexVersion, MembershipSpan, Pipeline
from index_versions.selectors import index_version_active, version_entries, version_revisions
from index_versions.services import figures
from index_versions.services.activation import index_version_activate
from index_versions.services.duplicates import duplicates_apply
from index_versions.services.keyword_postings import keyword_postings_add
from index_versions.services.keyword_statistics import keyword_statistics_apply, keyword_statistics_compute
from index_versions.services.locking import versions_lock
from index_versions.services.pipelines import pipeline_for_sync
from index_versions.services.spans import DUPLICATES, MEMBERSHIP, spans_apply
from index_versions.services.storage import revision_chunks_ensure, vector_index_ensure
from index_versions.task_names import REBUILD_VERSION_TASK
from ragplatform.celery import enqueue_on_commit
from ragplatform.exceptions import Conflict, ErrorCode, Unavailable
from sources.models import Source

logger = logging.getLogger(__name__)

# Above this many changed documents a version's counts are aggregated from its rows.
_COUNT_FROM_SCRATCH_ABOVE = 20_000


def _version_start(*, base: IndexVersion | None, pipeline: Pipeline, **fields) -> IndexVersion:
    return IndexVersion.objects.create(state=IndexVersion.State.BUILDING, pipeline=pipeline, parent=base, **fields)


def _version_ready(
    version: IndexVersion,
    *,
    base: IndexVersion | None,
    changes: dict,
    embeddings_computed: int,
    bytes_added: int,
    regroup: bool = False,
) -> None:
    """Counts, fingerprints and duplicate groups from the base's and the changes; then the version is ready."""
    same_pipeline = base is not None and base.pipeline_id == version.pipeline_id and base.counts
    if (same_pipeline or base is None) and len(changes) <= _COUNT_FROM_SCRATCH_ABOVE:
        counts = figures.counts_adjusted(version=version, base=base, changes=changes)
    else:  # another pipeline, or a bulk load: one aggregate over the rows beats per-revision lookups
        counts = figures.counts_computed(version=version)
    version.counts = {
        **counts,
        "embeddings_computed": embeddings_computed,
        "embeddings_reused": max(counts["chunks"] - embeddings_computed, 0),
        "bytes": figures.bytes_owned(version=version) + bytes_added,
    }
    version.source_fingerprints = figures.fingerprints_adjusted(base.source_fingerprints if base else {}, changes)
    keyword_statistics_apply(version=version, base=base, changes=changes)
    if base is not None and base.pipeline_id != version.pipeline_id:
        entering = list(version_entries(version).values_list("revision_id", flat=True))
    else:
        entering = [after[0] for _, after in changes.values() if after]
    # Normally a no-op (chunks are posted as they are stored); it posts chunks written any other way.
    keyword_postings_add(pipeline_id=version.pipeline_id, revision_ids=entering)
    duplicates_apply(version=version, base=base, changed_documents=set(changes), regroup=regroup)
    version.state = IndexVersion.State.READY
    version.ready_at = timezone.now()
    version.save(update_fields=["counts", "source_fingerprints", "state", "ready_at"])


def _source_delta(*, base: IndexVersion | None, source_id: int, revisions: dict[int, int]) -> dict:
    """What replacing ``source_id``'s content in ``base`` by ``revisions`` changes: ``{document: row or None}``."""
    current = version_revisions(base, source_id=source_id) if base is not None else {}
    delta = {d: (r, source_id) for d, r in revisions.items() if current.get(d) != r}
    delta.update({d: None for d in current if d not in revisions})
    return delta


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
    base = index_version_active()
    delta = _source_delta(base=base, source_id=source_id, revisions=revisions)
    return _version_build(
        base=base,
        delta=delta,
        pipeline=pipeline,
        actor=actor,
        activate=activate,
        activation_reason=activation_reason,
        embeddings_computed=embeddings_computed,
        bytes_added=bytes_added,
        note=note[:500],
        created_by=actor,
        trigger=trigger,
        trigger_source_id=source_id,
    )


def _version_build(
    *,
    base,
    delta,
    pipeline,
    actor,
    activate,
    activation_reason,
    embeddings_computed,
    bytes_added,
    regroup=False,
    **fields,
) -> IndexVersion:
    version = _version_start(base=base, pipeline=pipeline, **fields)
    changes = spans_apply(MEMBERSHIP, version_id=version.pk, base_id=base.pk if base else 0, delta=delta)
    # Changed revisions lack chunks only when a caller did not embed them beforehand.
    work = revision_chunks_ensure(revision_ids={after[0] for _, after in changes.values() if after}, pipeline=pipeline)
    _version_ready(
        version,
        base=base,
        changes=changes,
        embeddings_computed=embeddings_computed + work["embeddings_computed"],
        bytes_added=bytes_added + work["bytes"],
        regroup=regroup,
    )
    if activate:
        version = index_version_activate(version=version, actor=actor, reason=activation_reason)
    return version


def _revert_delta(*, base: IndexVersion | None, source: Source, version: IndexVersion) -> dict:
    """What restoring ``source`` as in ``version`` changes in ``base``: O(the source's differences)."""
    if base is None:
        return {d: (r, source.pk) for d, r in version_revisions(version, source_id=source.pk).items()}
    low, high = sorted((base.pk, version.pk))
    spans = MembershipSpan.objects.filter(source_id=source.pk)
    touched = set(spans.filter(valid_from__gt=low, valid_from__lte=high).values_list("document_id", flat=True))
    touched |= set(spans.filter(valid_to__gt=low, valid_to__lte=high).values_list("document_id", flat=True))
    wanted = MEMBERSHIP.content_at(version.pk, touched)
    now = MEMBERSHIP.content_at(base.pk, touched)
    return {d: wanted.get(d) for d in touched if wanted.get(d) != now.get(d)}


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
    pipeline = pipeline_for_sync()
    # Outside the lock, and a no-op unless the active pipeline differs from the version's.
    active = index_version_active()
    if active is not None and active.pipeline_id != version.pipeline_id:
        revision_chunks_ensure(revision_ids=version_revisions(version, source_id=source.pk).values(), pipeline=pipeline)
    with transaction.atomic():
        versions_lock()
        base = index_version_active()
        new_version = _version_build(
            base=base,
            delta=_revert_delta(base=base, source=source, version=version),
            pipeline=pipeline,
            actor=actor,
            activate=True,
            activation_reason=f"revert of source {source.pk} to version {version.pk}",
            embeddings_computed=0,
            bytes_added=0,
            note=f"revert {source.name} to version {version.pk}",
            created_by=actor,
            trigger=IndexVersion.Trigger.REVERT,
            trigger_source_id=source.pk,
        )
        audit_record(
            actor=actor,
            action=AuditEvent.Action.SOURCE_REVERT,
            target=f"source:{source.pk}",
            details={"from_version": version.pk, "new_version": new_version.pk},
        )
    return new_version


@transaction.atomic
def index_version_regroup(*, actor=None) -> IndexVersion:
    """A new active version with the active content and every duplicate group recomputed.

    Groups are kept up to date incrementally as documents change; after a change of
    ``DUPLICATES_AUTHORITATIVE_SOURCES`` (or of the near-duplicate threshold) this
    applies it to the groups of unchanged documents too. Nothing is re-embedded.
    """
    versions_lock()
    base = index_version_active()
    if base is None:
        raise Conflict("There is no active version to regroup.", code=ErrorCode.NOT_ACTIVATABLE)
    return _version_build(
        base=base,
        delta={},
        pipeline=base.pipeline,
        actor=actor,
        activate=True,
        activation_reason="duplicate groups recomputed",
        embeddings_computed=0,
        bytes_added=0,
        regroup=True,
        note="duplicate groups recomputed",
        created_by=actor,
        trigger=IndexVersion.Trigger.REBUILD,
    )


def index_version_rebuild(*, pipeline: Pipeline, actor=None) -> IndexVersion:
    """Start a complete new version of the active content under another pipeline.

    Returns the version in state ``building``; a worker chunks and embeds it (see
    :func:`index_version_rebuild_run`) while the active version keeps serving. It
    is not activated: an operator compares and activates it. Its rows and groups
    are the active version's, fixed now: later syncs do not change them. With the
    broker down the version ends failed, with the reason, and ``Unavailable`` is raised.
    """
    version = None
    try:
        with transaction.atomic():
            versions_lock()
            base = index_version_active()
            version = _version_start(
                base=base,
                pipeline=pipeline,
                note=f"rebuild with pipeline {pipeline.pk}",
                trigger=IndexVersion.Trigger.REBUILD,
                created_by=actor,
            )
            base_id = base.pk if base is not None else 0
            spans_apply(MEMBERSHIP, version_id=version.pk, base_id=base_id, delta={})
            spans_apply(DUPLICATES, version_id=version.pk, base_id=base_id, delta={})
            if base is not None:
                IndexVersion.objects.filter(pk=version.pk).update(source_fingerprints=base.source_fingerprints)
            audit_record(actor=actor, action=AuditEvent.Action.VERSION_REBUILD, target=f"index_version:{version.pk}")
            enqueue_on_commit(REBUILD_VERSION_TASK, version.pk)
        return version
    except BrokerOperationalError:
        # The version committed but its task could not be sent: end it now rather than leave it building.
        IndexVersion.objects.filter(pk=version.pk).update(
            state=IndexVersion.State.FAILED, note="rebuild not queued: the task queue (broker) is unreachable"
        )
        raise Unavailable(
            f"The task queue (broker) is unreachable, so rebuild version {version.pk} could not be queued and has "
            "failed; request the rebuild again once the broker is back.",
            code=ErrorCode.BROKER_UNAVAILABLE,
            details={"index_version_id": version.pk},
        ) from None


def index_version_rebuild_run(*, version_id: int) -> IndexVersion | None:
    """Chunk and embed a building version; it ends ready, or failed with the reason in its note."""
    version = IndexVersion.objects.select_related("pipeline").filter(pk=version_id).first()
    if version is None or version.state != IndexVersion.State.BUILDING:
        return None  # a redelivered task: the work was done
    try:
        vector_index_ensure(dimensions=version.pipeline.dimensions)
        ids = list(version_entries(version).values_list("revision_id", flat=True))
        # The expensive part, in batches and outside any long transaction.
        computed = stored = 0
        for start in range(0, len(ids), 200):
            stats = revision_chunks_ensure(revision_ids=ids[start : start + 200], pipeline=version.pipeline)
            computed += stats["embeddings_computed"]
            stored += stats["bytes"]
        with transaction.atomic():
            versions_lock()
            keyword_statistics_compute(version=version)
            keyword_postings_add(pipeline_id=version.pipeline_id, revision_ids=ids)
            counts = figures.counts_computed(version=version)
            version.counts = {
                **counts,
                "embeddings_computed": computed,
                "embeddings_reused": max(counts["chunks"] - computed, 0),
                "bytes": stored,
            }
            version.state = IndexVersion.State.READY
            version.ready_at = timezone.now()
            version.save(update_fields=["counts", "state", "ready_at"])
    except Exception as exc:
        logger.exception("rebuild of version %s failed", version_id)
        IndexVersion.objects.filter(pk=version_id).update(
            state=IndexVersion.State.FAILED, note=f"rebuild failed: {type(exc).__name__}: {exc}"[:500]
        )
    version.refresh_from_db()
    return version
