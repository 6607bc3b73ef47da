"""Per-source status, sync progress and history, and the plan of an "Undo last sync"."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from index_versions.models import IndexVersion
from index_versions.selectors import index_version_active, index_version_diff, version_revisions
from sources.models import Source, SyncJob


@dataclass(frozen=True)
class NextRun:
    at: datetime | None
    label: str


def source_next_run(source: Source, *, now: datetime | None = None) -> NextRun:
    """When beat will sync ``source`` next, in the terms of :func:`sources.selectors.sources_due_for_sync`."""
    now = now or timezone.now()
    if not source.enabled:
        return NextRun(None, "disabled")
    if not source.sync_interval_minutes:
        return NextRun(None, "on request only")
    if source.sync_paused:
        return NextRun(None, "paused")
    if source.last_synced_at is None:
        return NextRun(now, "due now")
    due = source.last_synced_at + timedelta(minutes=source.sync_interval_minutes)
    return NextRun(due, "due now" if due <= now else "")


def source_document_count(source_id: int, *, version: IndexVersion | None) -> int | None:
    """Documents of the source in ``version`` (``None`` without a version)."""
    if version is None:
        return None
    return len(version_revisions(version, source_id=source_id))


@dataclass
class SourceStatus:
    source: Source
    last_job: SyncJob | None  # the latest finished sync
    running_job: SyncJob | None
    documents: int | None  # in the active version
    next_run: NextRun

    @property
    def failing(self) -> list[dict]:
        """``[{document, reason}]``: what the latest finished sync could not read."""
        return list(self.last_job.errors) if self.last_job else []


def latest_finished_jobs(source_ids=None) -> dict[int, SyncJob]:
    """The newest finished sync job of each source, one query (``DISTINCT ON``)."""
    jobs = SyncJob.objects.exclude(status__in=SyncJob.IN_FLIGHT)
    if source_ids is not None:
        jobs = jobs.filter(source_id__in=source_ids)
    jobs = jobs.order_by("source_id", "-created_at", "-id").distinct("source_id")
    return {job.source_id: job for job in jobs}


def running_jobs(source_ids=None) -> dict[int, SyncJob]:
    jobs = SyncJob.objects.filter(status__in=SyncJob.IN_FLIGHT)
    if source_ids is not None:
        jobs = jobs.filter(source_id__in=source_ids)
    return {job.source_id: job for job in jobs}


def source_statuses(sources=None) -> list[SourceStatus]:
    sources = list(Source.objects.all() if sources is None else sources)
    ids = [source.pk for source in sources]
    finished, running = latest_finished_jobs(ids), running_jobs(ids)
    active = index_version_active()
    now = timezone.now()
    return [
        SourceStatus(
            source=source,
            last_job=finished.get(source.pk),
            running_job=running.get(source.pk),
            documents=source_document_count(source.pk, version=active),
            next_run=source_next_run(source, now=now),
        )
        for source in sources
    ]


def stale_sync_jobs() -> list[SyncJob]:
    """Jobs in flight with no heartbeat for ``SYNC_STALE_AFTER_SECONDS``: their worker likely died."""
    cutoff = timezone.now() - timedelta(seconds=settings.SYNC_STALE_AFTER_SECONDS)
    return list(
        SyncJob.objects.filter(status__in=SyncJob.IN_FLIGHT)
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
        .select_related("source")
    )


@dataclass(frozen=True)
class SyncProgress:
    done: int
    total: int | None  # unknown until the source has been listed
    percent: int | None
    phase: str  # the phase's label while in flight; "finished" after
    rate: float | None  # documents per second so far
    eta_seconds: float | None


def sync_job_progress(job: SyncJob, *, now: datetime | None = None) -> SyncProgress:
    """Done/total, phase, rate and time left of a sync job, from its counters and timestamps."""
    now = now or timezone.now()
    total, done = job.progress_total, job.progress_done
    percent = None
    if total:
        percent = min(100, int(done * 100 / total))
    elif total == 0:
        percent = 100 if job.is_finished else 0
    if job.status in (SyncJob.Status.SUCCEEDED, SyncJob.Status.PARTIAL):
        percent = 100
    elapsed = ((job.finished_at or now) - job.started_at).total_seconds() if job.started_at else 0
    rate = done / elapsed if done and elapsed > 0 else None
    eta = None
    if not job.is_finished and rate and total is not None:
        eta = max(total - done, 0) / rate
    return SyncProgress(
        done=done,
        total=total,
        percent=percent,
        phase=job.get_phase_display() if not job.is_finished else "finished",
        rate=rate,
        eta_seconds=eta,
    )


def sync_job_history(*, source: Source, limit: int = 20) -> list[SyncJob]:
    return list(SyncJob.objects.filter(source=source).select_related("index_version", "requested_by")[:limit])


@dataclass
class UndoPlan:
    """What "Undo last sync" of one source would do, or why it cannot."""

    source: Source
    job: SyncJob | None = None  # the last sync that produced a version
    restore: IndexVersion | None = None  # the parent of that version: the source as it was before
    active: IndexVersion | None = None
    problem: str = ""
    added: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    changed: list[dict] = field(default_factory=list)

    @property
    def possible(self) -> bool:
        return not self.problem


def source_undo_plan(*, source: Source, user) -> UndoPlan:
    """The version to restore ``source`` from and the diff against the active version, restricted to it.

    The restore point is the parent of the version the source's last successful sync
    produced: the index as it was just before that sync.
    """
    plan = UndoPlan(source=source, active=index_version_active())
    plan.job = (
        SyncJob.objects.filter(
            source=source,
            status__in=[SyncJob.Status.SUCCEEDED, SyncJob.Status.PARTIAL],
            index_version__isnull=False,
        )
        .select_related("index_version__parent")
        .order_by("-created_at", "-id")
        .first()
    )
    if plan.job is None:
        plan.problem = "No sync of this source has produced an index version yet."
        return plan
    plan.restore = plan.job.index_version.parent
    if plan.restore is None:
        plan.problem = (
            f"Sync #{plan.job.pk} built the first index version, or the version before it was deleted by retention: "
            "there is nothing to restore from."
        )
        return plan
    if plan.restore.state not in (IndexVersion.State.READY, IndexVersion.State.ACTIVE, IndexVersion.State.RETIRED):
        plan.problem = f"Version {plan.restore.pk}, from before sync #{plan.job.pk}, is {plan.restore.state}."
        return plan
    if plan.active is None:
        plan.problem = "No index version is active."
        return plan
    key = str(source.pk)
    if plan.active.source_fingerprints.get(key) == plan.restore.source_fingerprints.get(key):
        plan.problem = f"The source is already as it was before sync #{plan.job.pk}: nothing to undo."
        return plan
    diff = index_version_diff(version=plan.restore, against=plan.active, user=user)
    plan.added = [entry for entry in diff.added if entry["source_id"] == source.pk]
    plan.removed = [entry for entry in diff.removed if entry["source_id"] == source.pk]
    plan.changed = [entry for entry in diff.changed if entry["source_id"] == source.pk]
    return plan
