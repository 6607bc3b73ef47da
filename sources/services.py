"""Writes on sources: create/update/delete, sync requests and the sync itself."""

import hashlib
import logging
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from rest_framework import status

from ragplatform.errors import ApplicationError
from sources.connectors import ConfigError, FetchedDocument, FetchFailure, get_connector
from sources.metadata import MetadataError, encoded, metadata_validate
from sources.models import Document, DocumentRevision, Source, SyncItem, SyncJob, UploadedFile

logger = logging.getLogger(__name__)

_EDITABLE_FIELDS = {"name", "kind", "config", "enabled", "sync_interval_minutes"}


def _validated_config(kind: str, config) -> dict:
    try:
        return get_connector(kind).validate_config(config)
    except ConfigError as exc:
        field = "kind" if set(exc.details) == {"kind"} else "config"
        raise ApplicationError(f"Invalid {field}: {exc}", code="invalid_config", details={field: exc.details}) from None


@transaction.atomic
def source_create(
    *, name: str, kind: str, config: dict, enabled: bool = True, sync_interval_minutes: int | None = None
) -> Source:
    config = _validated_config(kind, config)
    try:
        with transaction.atomic():  # the unique name index decides, also between concurrent requests
            return Source.objects.create(
                name=name, kind=kind, config=config, enabled=enabled, sync_interval_minutes=sync_interval_minutes
            )
    except IntegrityError:
        raise _duplicate_name(name) from None


def _duplicate_name(name: str) -> ApplicationError:
    return ApplicationError(
        f"A source named {name!r} already exists.", code="duplicate", details={"name": ["already exists"]}
    )


@transaction.atomic
def source_update(*, source: Source, data: dict) -> Source:
    unknown = set(data) - _EDITABLE_FIELDS
    if unknown:
        raise ApplicationError("Unknown fields.", details={name: ["not editable"] for name in sorted(unknown)})
    source = Source.objects.select_for_update().get(pk=source.pk)
    kind = data.get("kind", source.kind)
    if "config" in data or "kind" in data:
        source.config = _validated_config(kind, data.get("config", source.config))
        source.kind = kind
    if "name" in data:
        source.name = data["name"]
    for field in ("enabled", "sync_interval_minutes"):
        if field in data:
            setattr(source, field, data[field])
    try:
        with transaction.atomic():
            source.save()
    except IntegrityError:
        raise _duplicate_name(source.name) from None
    return source


@transaction.atomic
def source_delete(*, source: Source) -> None:
    """Delete the source with its documents, grants and jobs, from every index version."""
    source.delete()


# --- sync ------------------------------------------------------------------------------------
#
# A sync job runs in steps, each small enough for one Celery task:
#   fetch    the connector lists the source; each document's raw bytes are hashed and
#            only new or changed ones are kept (as SyncItem rows) for parsing;
#   process  batches of SYNC_BATCH_DOCUMENTS pending items are parsed (in a sandbox
#            process with a timeout), stored as revisions, chunked and embedded;
#   finish   the source's documents become a new index version, built and activated
#            in the same transaction that ends the job, so a crash never leaves half
#            a version visible.
# Each step runs under a session advisory lock on the job: the lock dies with the
# worker's connection, which is how a request tells a running step from a dead one.

_JOB_LOCK_CLASS = 0x5_1C  # the first key of pg_try_advisory_lock(int, int); the job id is the second


def _batch_size() -> int:
    return getattr(settings, "SYNC_BATCH_DOCUMENTS", 100)


def _parse_timeout() -> float:
    return getattr(settings, "SOURCE_PARSE_TIMEOUT_SECONDS", 60)


def _stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "SYNC_STALE_AFTER_SECONDS", 600))


@contextmanager
def _job_lock(job_id: int):
    """Hold the job's advisory lock for the block; yields False (and waits for nothing) if taken."""
    key = [_JOB_LOCK_CLASS, job_id % 2**31]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        locked = cursor.fetchone()[0]
    try:
        yield locked
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def sync_job_request(*, source: Source, requested_by=None) -> tuple[SyncJob, bool]:
    """Queue a sync of ``source``; if one is already queued or running, return that one.

    Returns ``(job, created)``. The task is enqueued only once the job row is
    committed, so a worker never looks for a job that does not exist yet. A job in
    flight whose worker died is resumed (see :func:`sync_job_resume_if_stale`).
    """
    from sources.tasks import sync_source_task

    if not source.enabled:
        raise ApplicationError(
            "The source is disabled; enable it before syncing.",
            code="source_disabled",
            status_code=status.HTTP_409_CONFLICT,
        )
    try:
        with transaction.atomic():
            job = SyncJob.objects.create(source=source, requested_by=requested_by, heartbeat_at=timezone.now())
            transaction.on_commit(lambda: sync_source_task.delay(job.pk))
            return job, True
    except IntegrityError:
        # The partial unique index says a job is in flight for this source.
        job = SyncJob.objects.get(source=source, status__in=SyncJob.IN_FLIGHT)
        sync_job_resume_if_stale(job=job)
        return job, False


def sync_job_resume_if_stale(*, job: SyncJob) -> bool:
    """Re-enqueue a job in flight that no task is working on and that made no progress lately.

    A worker killed mid-step leaves its message unacknowledged until the broker's
    visibility timeout (hours); this picks the job up sooner. The new attempt makes
    any older message of the job a no-op when it is delivered after all.
    """
    from sources.tasks import sync_source_task, sync_step_task

    with transaction.atomic():
        job = SyncJob.objects.select_for_update().filter(pk=job.pk, status__in=SyncJob.IN_FLIGHT).first()
        if job is None or (job.heartbeat_at and job.heartbeat_at > timezone.now() - _stale_after()):
            return False
        with _job_lock(job.pk) as free:
            if not free:
                return False  # a step is running right now
        job.heartbeat_at = timezone.now()
        if job.status == SyncJob.Status.QUEUED:
            job.save(update_fields=["heartbeat_at"])
            transaction.on_commit(lambda: sync_source_task.delay(job.pk))
        else:
            job.attempt += 1
            job.save(update_fields=["heartbeat_at", "attempt"])
            attempt = job.attempt
            transaction.on_commit(lambda: sync_step_task.delay(job.pk, attempt))
        logger.warning("sync job %s had no live task; resumed (attempt %s, phase %s)", job.pk, job.attempt, job.phase)
        return True


def sync_jobs_resume_stale() -> list[SyncJob]:
    """Beat: resume every job in flight whose worker died."""
    stale = SyncJob.objects.filter(status__in=SyncJob.IN_FLIGHT, heartbeat_at__lt=timezone.now() - _stale_after())
    return [job for job in stale if sync_job_resume_if_stale(job=job)]


def sync_job_claim(*, job_id: int) -> SyncJob | None:
    """Move a queued job to running (attempt 1); ``None`` if another delivery already took it.

    A job of a source disabled meanwhile is cancelled instead: disabled sources are not synced.
    """
    with transaction.atomic():
        job = SyncJob.objects.select_for_update().select_related("source").filter(pk=job_id).first()
        if job is None or job.status != SyncJob.Status.QUEUED:
            return None
        if not job.source.enabled:
            _sync_job_end(job, status=SyncJob.Status.CANCELLED, message="the source is disabled")
            return None
        job.status = SyncJob.Status.RUNNING
        job.started_at = job.heartbeat_at = timezone.now()
        job.attempt += 1
        job.phase = SyncJob.Phase.FETCH
        job.save(update_fields=["status", "started_at", "heartbeat_at", "attempt", "phase"])
        return job


@transaction.atomic
def sync_job_cancel(*, job: SyncJob, actor=None) -> SyncJob:
    """Stop a sync cleanly: it ends ``cancelled`` after its current step, with no new version."""
    job = SyncJob.objects.select_for_update().get(pk=job.pk)
    if job.is_finished:
        raise ApplicationError(
            f"Sync job {job.pk} is already {job.status}.", code="not_cancellable", status_code=status.HTTP_409_CONFLICT
        )
    job.cancel_requested_at = timezone.now()
    job.save(update_fields=["cancel_requested_at"])
    with _job_lock(job.pk) as free:
        if free:  # no step is running: end it now rather than at the next step
            _sync_job_end(job, status=SyncJob.Status.CANCELLED, message=_cancel_message(actor))
    return job


def _cancel_message(actor) -> str:
    return f"cancelled by {actor}" if actor else "cancelled"


def sync_job_run(*, job_id: int, progress=None) -> SyncJob | None:
    """Run a queued sync job to its end in this process (tests, ``manage.py sync_source``).

    Idempotent: a job that is not queued any more (a redelivered task) is left alone.
    ``progress(done, total)`` is called after each step.
    """
    job = sync_job_claim(job_id=job_id)
    if job is None:
        return None
    while sync_job_advance(job_id=job.pk, attempt=job.attempt):
        if progress is not None:
            job.refresh_from_db(fields=["progress_done", "progress_total"])
            progress(job.progress_done, job.progress_total)
    job.refresh_from_db()
    if progress is not None:
        progress(job.progress_done, job.progress_total)
    return job


def sync_job_advance(*, job_id: int, attempt: int) -> bool:
    """Run the next step of a running job; ``True`` while more steps remain.

    Safe to call twice for the same step (a redelivered task): steps are idempotent,
    and one of an older ``attempt`` or one whose job another task holds does nothing.
    Transient database errors propagate, for the task to retry; any other error
    fails the job with the reason.
    """
    with _job_lock(job_id) as locked:
        if not locked:
            return False
        job = SyncJob.objects.select_related("source").filter(pk=job_id).first()
        if job is None or job.status != SyncJob.Status.RUNNING or job.attempt != attempt:
            return False
        try:
            if job.cancel_requested_at is not None:
                _sync_job_end(job, status=SyncJob.Status.CANCELLED, message=_cancel_message(None))
                return False
            SyncJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
            if job.phase == SyncJob.Phase.FETCH:
                _sync_fetch(job)
                return True
            if job.phase == SyncJob.Phase.PROCESS:
                _sync_process_batch(job)
                return True
            _sync_finish(job)
            return False
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            logger.exception("sync job %s failed", job.pk)
            _sync_job_end(job, status=SyncJob.Status.FAILED, message=f"{type(exc).__name__}: {exc}")
            return False


def _content_hash(content: bytes, metadata: dict | None = None) -> str:
    """The bytes' SHA-256, with the metadata's canonical JSON appended when there is metadata.

    So a change of metadata alone is a change (a new revision), while a document without
    metadata keeps the plain hash of its bytes it always had.
    """
    digest = hashlib.sha256(content)
    if metadata:
        digest.update(b"\x00metadata\x00" + encoded(metadata))
    return digest.hexdigest()


def _normalised_principals(principals) -> list[str] | None:
    from acl.services import principal_normalise

    if principals is None:
        return None
    return sorted({p for p in (principal_normalise(name) for name in principals) if p})


def _sync_fetch(job: SyncJob) -> None:
    """List the source; keep the bytes of new and changed documents only; then move to ``process``.

    An unchanged document (same content hash as its newest revision) costs its hash
    and nothing else: no parse, no write, no embedding.
    """
    from acl.models import DocumentAccessList
    from acl.services import document_access_list_set

    source = job.source
    SyncItem.objects.filter(job=job).delete()  # a resumed fetch starts over
    max_bytes = settings.SOURCE_MAX_DOCUMENT_BYTES
    documents = {d.external_id: d for d in Document.objects.filter(source=source)}
    current_revisions = dict(
        DocumentRevision.objects.filter(document__source=source, content_hash=F("document__content_hash")).values_list(
            "document_id", "id"
        )
    )
    access_lists = dict(
        DocumentAccessList.objects.filter(document__source=source).values_list("document_id", "principals")
    )
    batch: list[SyncItem] = []
    seen: set[str] = set()
    fetched = 0

    def flush() -> None:
        SyncItem.objects.bulk_create(batch, batch_size=500)
        batch.clear()
        done = SyncItem.objects.filter(job=job).exclude(state=SyncItem.State.PENDING).count()
        SyncJob.objects.filter(pk=job.pk).update(progress_done=done, heartbeat_at=timezone.now())

    for item in get_connector(source.kind).fetch(source.config, source_id=source.pk):
        if item.external_id in seen:
            continue
        seen.add(item.external_id)
        fetched += 1
        if isinstance(item, FetchFailure):
            batch.append(
                SyncItem(
                    job=job, external_id=item.external_id[:1024], state=SyncItem.State.FAILED, reason=item.reason[:500]
                )
            )
        else:
            batch.append(
                _sync_item_for(
                    job, item, documents, current_revisions, access_lists, document_access_list_set, max_bytes
                )
            )
        if len(batch) >= 500:
            flush()
            if SyncJob.objects.filter(pk=job.pk, cancel_requested_at__isnull=False).exists():
                return  # the next step ends it as cancelled
    flush()
    SyncJob.objects.filter(pk=job.pk).update(
        phase=SyncJob.Phase.PROCESS, progress_total=fetched, heartbeat_at=timezone.now()
    )


def _sync_item_for(job, item: FetchedDocument, documents, current_revisions, access_lists, set_access, max_bytes):
    common = {"job": job, "external_id": item.external_id[:1024]}
    if not item.content:
        return SyncItem(**common, state=SyncItem.State.FAILED, reason="empty file")
    if len(item.content) > max_bytes:
        return SyncItem(
            **common,
            state=SyncItem.State.FAILED,
            reason=f"over the size limit ({len(item.content)} > {max_bytes} bytes)",
        )
    try:
        metadata = metadata_validate(item.metadata)
    except MetadataError as exc:
        return SyncItem(**common, state=SyncItem.State.FAILED, reason=str(exc)[:500])
    content_hash = _content_hash(item.content, metadata)
    document = documents.get(item.external_id)
    if document is not None and document.purged_at is not None:
        # A compliance purge is final: the content is not taken in again.
        return SyncItem(**common, state=SyncItem.State.PURGED, document=document)
    if document is not None and document.content_hash == content_hash and document.pk in current_revisions:
        if document.uri != item.uri:  # moved, same content: no new revision
            Document.objects.filter(pk=document.pk).update(uri=item.uri, updated_at=timezone.now())
        # The source's own access list applies live; written only when it changed.
        wanted = _normalised_principals(item.access_list)
        have = access_lists.get(document.pk)
        if (wanted is None) != (have is None) or (wanted is not None and sorted(have) != wanted):
            set_access(document=document, principals=item.access_list)
        return SyncItem(
            **common,
            state=SyncItem.State.UNCHANGED,
            content_hash=content_hash,
            document=document,
            revision_id=current_revisions[document.pk],
        )
    return SyncItem(
        **common,
        state=SyncItem.State.PENDING,
        content=item.content,
        content_hash=content_hash,
        media_type=item.media_type[:200],
        title=item.title[:500],
        uri=item.uri[:2048],
        modified_at=item.modified_at,
        access_list=list(item.access_list) if item.access_list is not None else None,
        version=item.version[:200],
        metadata=metadata,
    )


def _sync_process_batch(job: SyncJob) -> None:
    """Parse, store and embed the next batch of pending documents; move to ``finish`` when none is left."""
    from acl.services import document_access_list_set
    from index_versions import services as index_services
    from sources.parsers import ParseError, sandbox

    items = list(SyncItem.objects.filter(job=job, state=SyncItem.State.PENDING).order_by("pk")[: _batch_size()])
    if not items:
        SyncJob.objects.filter(pk=job.pk).update(phase=SyncJob.Phase.FINISH, heartbeat_at=timezone.now())
        return
    pipeline = index_services.pipeline_for_sync()
    timeout = _parse_timeout()
    revision_ids = []
    for item in items:
        try:
            parsed = sandbox.parse(
                bytes(item.content), media_type=item.media_type, name=item.external_id, timeout=timeout
            )
        except ParseError as exc:
            # The document keeps its previous content in the new version (see _sync_finish).
            item.state, item.reason, item.content = SyncItem.State.FAILED, str(exc)[:500], None
            continue
        title = (parsed.title or item.title or item.external_id)[:500]
        with transaction.atomic():
            document, created = Document.objects.get_or_create(
                source=job.source,
                external_id=item.external_id,
                defaults={
                    "title": title,
                    "uri": item.uri,
                    "content_hash": item.content_hash,
                    "modified_at": item.modified_at,
                },
            )
            if not created:
                document.title, document.uri, document.content_hash = title, item.uri, item.content_hash
                document.modified_at = item.modified_at
                document.save(update_fields=["title", "uri", "content_hash", "modified_at", "updated_at"])
            revision, _ = DocumentRevision.objects.get_or_create(
                document=document,
                content_hash=item.content_hash,
                defaults={
                    "title": title,
                    "uri": item.uri,
                    "content": parsed.text.replace("\x00", ""),
                    "modified_at": item.modified_at,
                    "version": item.version,
                    "metadata": item.metadata,
                },
            )
            document_access_list_set(document=document, principals=item.access_list)
        item.state, item.document, item.revision, item.content = SyncItem.State.DONE, document, revision, None
        revision_ids.append(revision.pk)
    # The expensive part: chunks and embeddings of this batch, outside any long transaction.
    work = index_services.revision_chunks_ensure(revision_ids=revision_ids, pipeline=pipeline)
    with transaction.atomic():
        SyncItem.objects.bulk_update(items, ["state", "reason", "content", "document", "revision"])
        SyncJob.objects.filter(pk=job.pk).update(
            progress_done=F("progress_done") + len(items),
            embeddings_computed=F("embeddings_computed") + work["embeddings_computed"],
            bytes_added=F("bytes_added") + work["bytes"],
            heartbeat_at=timezone.now(),
        )


def _sync_finish(job: SyncJob) -> None:
    """Build and activate the new version, in the transaction that ends the job ("no changes": none).

    With the evaluation gate on (``EVALUATION_GATE_SET``), the version is activated
    only if it scores no worse than the active one (:mod:`retrieval.gate`);
    otherwise it stays ready, and the job succeeds with a message saying why.
    """
    from index_versions import services as index_services
    from retrieval import gate as evaluation_gate

    source = job.source
    pipeline = index_services.pipeline_for_sync()
    active = index_services.index_version_active()
    in_active: dict[int, int] = {}
    if active is not None:
        in_active = dict(active.entries.filter(source=source).values_list("document_id", "revision_id"))
    counts = {"added": 0, "updated": 0, "unchanged": 0, "deleted": 0, "failed": 0, "purged": 0}
    revisions: dict[int, int] = {}
    errors: list[dict] = []
    failed_ids: set[str] = set()
    for external_id, state, document_id, revision_id, reason in (
        SyncItem.objects.filter(job=job)
        .order_by("pk")
        .values_list("external_id", "state", "document_id", "revision_id", "reason")
    ):
        if state == SyncItem.State.FAILED:
            counts["failed"] += 1
            errors.append({"document": external_id, "reason": reason})
            failed_ids.add(external_id)
        elif state == SyncItem.State.PURGED:
            counts["purged"] += 1
        elif revision_id is not None:
            revisions[document_id] = revision_id
            if document_id not in in_active:
                counts["added"] += 1
            elif in_active[document_id] != revision_id:
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
    # A document that failed keeps its previous content in the new version.
    for document_id, external_id in Document.objects.filter(pk__in=list(in_active)).values_list("pk", "external_id"):
        if external_id in failed_ids and document_id not in revisions:
            revisions[document_id] = in_active[document_id]
    counts["deleted"] = len(set(in_active) - set(revisions))
    job.counts, job.errors = counts, errors
    if in_active and not any(counts[key] for key in ("added", "updated", "unchanged")) and counts["failed"]:
        # Nothing could be read (the site is down, the share unmounted): deleting everything would be wrong.
        _sync_job_end(job, status=SyncJob.Status.FAILED, message="no document could be read; the index is unchanged")
        return
    final_status = SyncJob.Status.PARTIAL if errors else SyncJob.Status.SUCCEEDED
    nothing_changed = (
        active is not None
        and active.pipeline_id == pipeline.pk
        and counts["added"] == counts["updated"] == counts["deleted"] == 0
    )
    if nothing_changed:
        _sync_job_end(job, status=final_status, message="no changes")
        return
    # Revisions met unchanged but never embedded (an interrupted run) are embedded here, outside the lock.
    work = index_services.revision_chunks_ensure(revision_ids=revisions.values(), pipeline=pipeline)
    # So are the evaluation set's queries (None: the gate is off).
    models = [pipeline.embedding_model] + ([active.pipeline.embedding_model] if active is not None else [])
    gate = evaluation_gate.gate_prepare(models=models)
    with transaction.atomic():
        locked = SyncJob.objects.select_for_update().get(pk=job.pk)
        if locked.status != SyncJob.Status.RUNNING or locked.cancel_requested_at is not None:
            if locked.status == SyncJob.Status.RUNNING:
                _sync_job_end(job, status=SyncJob.Status.CANCELLED, message=_cancel_message(None))
            return
        job.index_version = index_services.index_version_build_for_source(
            source_id=source.pk,
            revisions=revisions,
            pipeline=pipeline,
            actor=job.requested_by,
            note=f"sync #{job.pk} of {source.name}",
            embeddings_computed=locked.embeddings_computed + work["embeddings_computed"],
            bytes_added=locked.bytes_added + work["bytes"],
            activate=gate is None,
        )
        message = ""
        if gate is not None:
            # Still under the version lock taken by the build: the active version cannot change meanwhile.
            evaluation = evaluation_gate.version_gate_check(
                version=job.index_version, gate=gate, actor=job.requested_by
            )
            if evaluation is None or evaluation.passed:
                job.index_version = index_services.index_version_activate(
                    version=job.index_version, actor=job.requested_by, reason="sync"
                )
                if evaluation is not None:
                    message = f"activated; evaluation gate {evaluation.verdict()}"
            else:
                message = evaluation_gate.version_gate_hold_message(evaluation=evaluation)
        _sync_job_end(job, status=final_status, message=message)


def _sync_job_end(job: SyncJob, *, status: str, message: str = "") -> None:
    """Finish the job and drop its staged items; the version, if any, commits in the same transaction."""
    with transaction.atomic():
        job.status = status
        job.message = message[:500]
        job.finished_at = timezone.now()
        if job.progress_total is None or status == SyncJob.Status.SUCCEEDED or status == SyncJob.Status.PARTIAL:
            total = SyncItem.objects.filter(job=job).count()
            job.progress_total = total if job.progress_total is None else job.progress_total
            if status in (SyncJob.Status.SUCCEEDED, SyncJob.Status.PARTIAL):
                job.progress_done = job.progress_total
        fields = ["status", "message", "finished_at", "counts", "errors", "index_version"]
        job.save(update_fields=[*fields, "progress_done", "progress_total"])
        SyncItem.objects.filter(job=job).delete()
        if status in (SyncJob.Status.SUCCEEDED, SyncJob.Status.PARTIAL):
            Source.objects.filter(pk=job.source_id).update(last_synced_at=job.finished_at)


@transaction.atomic
def source_schedule_resume(*, source: Source, actor=None) -> Source:
    """Lift a pause left by a rollback or revert; the next scheduled sync then runs as usual."""
    from acl.services import audit_record

    Source.objects.filter(pk=source.pk).update(sync_paused_at=None, sync_paused_reason="")
    audit_record(actor=actor, action="source.schedule_resume", target=f"source:{source.pk}")
    source.refresh_from_db()
    return source


def sync_due_sources_request() -> list[SyncJob]:
    """Queue a sync for every source whose interval has passed (called by Celery beat)."""
    from sources.selectors import sources_due_for_sync

    return [sync_job_request(source=source)[0] for source in sources_due_for_sync(now=timezone.now())]


@transaction.atomic
def document_purge(*, document: Document, actor=None) -> Document:
    """Remove a document's text, chunks and embeddings from every index version, for good.

    This is the one operation that changes ready versions. The document row stays
    as a tombstone (no title, no URI, no content) so that a later sync skips it and
    no rollback can bring the content back. Embeddings shared with another
    document's identical text stay, since that text is still legitimately indexed.
    Audited with who, when and which versions held it.
    """
    from acl.services import audit_record
    from index_versions.models import Chunk, Embedding, IndexVersion, VersionDocument

    document = Document.objects.select_for_update().get(pk=document.pk)
    if document.purged_at is not None:
        return document
    version_ids = sorted(set(VersionDocument.objects.filter(document=document).values_list("version_id", flat=True)))
    embedding_ids = set(Chunk.objects.filter(revision__document=document).values_list("embedding_id", flat=True))
    # Revisions cascade to their chunks and to the membership rows of every version.
    DocumentRevision.objects.filter(document=document).delete()
    Embedding.objects.filter(pk__in=embedding_ids).exclude(
        Exists(Chunk.objects.filter(embedding_id=OuterRef("pk")))
    ).delete()
    document.title, document.uri, document.content_hash = "(purged)", "", ""
    document.purged_at, document.purged_by = timezone.now(), actor
    document.save(update_fields=["title", "uri", "content_hash", "purged_at", "purged_by", "updated_at"])
    for version in IndexVersion.objects.filter(pk__in=version_ids).select_for_update():
        entries = VersionDocument.objects.filter(version=version)
        version.counts = {
            **version.counts,
            "documents": entries.count(),
            "chunks": Chunk.objects.filter(
                pipeline_id=version.pipeline_id, revision_id__in=entries.values("revision_id")
            ).count(),
        }
        version.save(update_fields=["counts"])
    audit_record(
        actor=actor,
        action="document.purge",
        target=f"document:{document.pk}",
        details={"source": document.source_id, "external_id": document.external_id, "versions": version_ids},
    )
    return document


@transaction.atomic
def source_schedule_pause(*, source: Source, actor=None, reason: str = "") -> Source:
    """Pause the source's scheduled syncs until resumed (syncs on request still run)."""
    from acl.services import audit_record

    reason = (reason or f"paused by {actor or 'an operator'}")[:200]
    Source.objects.filter(pk=source.pk, sync_paused_at__isnull=True).update(
        sync_paused_at=timezone.now(), sync_paused_reason=reason
    )
    audit_record(actor=actor, action="source.schedule_pause", target=f"source:{source.pk}")
    source.refresh_from_db()
    return source


# --- uploads -----------------------------------------------------------------------------------


def _upload_source(source: Source) -> None:
    if source.kind != Source.Kind.UPLOAD:
        raise ApplicationError(
            f"Source {source.name!r} is a {source.kind} source; files can be uploaded to upload sources only.",
            code="not_an_upload_source",
            status_code=status.HTTP_409_CONFLICT,
        )


def _upload_name(name: str) -> str:
    # Browsers send a bare file name, some clients a path: the last component is the name.
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in {".", ".."} or "\x00" in name or len(name) > 255:
        raise ApplicationError(
            "A file needs a name of 1 to 255 characters, without '/' or NUL.", details={"file": ["invalid file name"]}
        )
    return name


@transaction.atomic
def uploaded_file_put(
    *, source: Source, name: str, content: bytes, media_type: str = "", uploaded_by=None, metadata=None
) -> tuple[UploadedFile, bool]:
    """Store an uploaded file, replacing the one of the same name (metadata included); ``(file, created)``.

    The next sync of the source picks the change up like any other connector's;
    ``metadata`` (see :mod:`sources.metadata`) becomes the revision's, over the
    file's own front matter.
    """
    _upload_source(source)
    name = _upload_name(name)
    try:
        metadata = metadata_validate(metadata)
    except MetadataError as exc:
        raise ApplicationError(str(exc), details={"metadata": [str(exc)]}) from None
    max_bytes = settings.SOURCE_MAX_DOCUMENT_BYTES
    if len(content) > max_bytes:
        raise ApplicationError(
            f"{name} is {len(content)} bytes; the limit is {max_bytes} (SOURCE_MAX_DOCUMENT_BYTES).",
            code="too_large",
            details={"file": [f"larger than {max_bytes} bytes"]},
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if not content:
        raise ApplicationError(f"{name} is empty.", code="empty_file", details={"file": ["empty file"]})
    upload, created = UploadedFile.objects.update_or_create(
        source=source,
        name=name,
        defaults={
            "content": content,
            "media_type": media_type[:200],
            "metadata": metadata,
            "size": len(content),
            "content_hash": hashlib.sha256(content).hexdigest(),
            "uploaded_by": uploaded_by,
        },
    )
    return upload, created


@transaction.atomic
def uploaded_file_delete(*, upload: UploadedFile) -> None:
    """Remove an uploaded file; the next sync deletes its document from the new index version."""
    upload.delete()
