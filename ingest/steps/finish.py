"""The finish step: the source's documents become a new index version, built and activated
in the same transaction that ends the job, so a crash never leaves half a version visible."""

from django.db import transaction

from index_versions.selectors import index_version_active, version_revisions
from index_versions.services.activation import index_version_activate
from index_versions.services.building import index_version_build_for_source
from index_versions.services.locking import versions_lock
from index_versions.services.pipelines import pipeline_for_sync
from index_versions.services.storage import revision_chunks_ensure
from ingest.lifecycle import cancel_message, sync_job_end
from retrieval.evaluation import gate as evaluation_gate
from sources.models import Document, SyncItem, SyncJob


def _outcome(job: SyncJob, active) -> tuple[dict, dict[int, int], list[dict], bool]:
    """``(counts, the source's complete content {document: revision}, errors, had content)`` from the job's items.

    A document that failed keeps its previous content (its revision in ``active``).
    """
    in_active = version_revisions(active, source_id=job.source_id) if active is not None else {}
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
    for document_id, external_id in Document.objects.filter(pk__in=list(in_active)).values_list("pk", "external_id"):
        if external_id in failed_ids and document_id not in revisions:
            revisions[document_id] = in_active[document_id]
    counts["deleted"] = len(set(in_active) - set(revisions))
    return counts, revisions, errors, bool(in_active)


def sync_finish(job: SyncJob) -> None:
    """Build and activate the new version, in the transaction that ends the job ("no changes": none).

    With the evaluation gate on (``EVALUATION_GATE_SET``), the version is activated
    only if it scores no worse than the active one (:mod:`retrieval.evaluation.gate`);
    otherwise it stays ready, and the job succeeds with a message saying why. The
    content is read again under the version lock, so a purge or rollback that ran
    meanwhile is respected.
    """
    source = job.source
    pipeline = pipeline_for_sync()
    active = index_version_active()
    counts, revisions, errors, had_content = _outcome(job, active)
    job.counts, job.errors = counts, errors
    if had_content and not any(counts[key] for key in ("added", "updated", "unchanged")) and counts["failed"]:
        # Nothing could be read (the site is down, the share unmounted): deleting everything would be wrong.
        sync_job_end(job, status=SyncJob.Status.FAILED, message="no document could be read; the index is unchanged")
        return
    final_status = SyncJob.Status.PARTIAL if errors else SyncJob.Status.SUCCEEDED
    nothing_changed = (
        active is not None
        and active.pipeline_id == pipeline.pk
        and counts["added"] == counts["updated"] == counts["deleted"] == 0
    )
    if nothing_changed:
        sync_job_end(job, status=final_status, message="no changes")
        return
    # Revisions met unchanged but never embedded (an interrupted run) are embedded here, outside the lock.
    work = revision_chunks_ensure(revision_ids=revisions.values(), pipeline=pipeline)
    # So are the evaluation set's queries (None: the gate is off).
    models = [pipeline.embedding_model] + ([active.pipeline.embedding_model] if active is not None else [])
    gate = evaluation_gate.gate_prepare(models=models)
    with transaction.atomic():
        versions_lock()
        locked = SyncJob.objects.select_for_update().get(pk=job.pk)
        if locked.status != SyncJob.Status.RUNNING or locked.cancel_requested_at is not None:
            if locked.status == SyncJob.Status.RUNNING:
                sync_job_end(job, status=SyncJob.Status.CANCELLED, message=cancel_message(None))
            return
        job.counts, revisions, job.errors, _ = _outcome(job, index_version_active())
        job.index_version = index_version_build_for_source(
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
            # Still under the version lock: the active version cannot change meanwhile.
            evaluation = evaluation_gate.version_gate_check(
                version=job.index_version, gate=gate, actor=job.requested_by
            )
            if evaluation is None or evaluation.passed:
                job.index_version = index_version_activate(
                    version=job.index_version, actor=job.requested_by, reason="sync"
                )
                if evaluation is not None:
                    message = f"activated; evaluation gate {evaluation.verdict()}"
            else:
                message = evaluation_gate.version_gate_hold_message(evaluation=evaluation)
        sync_job_end(job, status=final_status, message=message)
