"""The home page: are the services up, which version is searched and why, how each source's syncs are doing."""

from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from console import selectors
from sources.models import SyncJob


def dashboard_view(request, *, site, extra_context=None):
    user = request.user
    may_view_sources = user.has_perm("sources.view_source")
    may_view_versions = user.has_perm("index_versions.view_indexversion")
    checks = [selectors.database_check(), selectors.broker_check()]
    queues = selectors.workers_by_queue() if checks[1].ok else None
    statuses = selectors.source_statuses() if may_view_sources else []
    context = {
        **site.each_context(request),
        "title": "Overview",
        "subtitle": None,
        "checks": checks,
        "queues": queues,
        "active": selectors.active_version_summary() if may_view_versions else None,
        "may_view_sources": may_view_sources,
        "may_view_versions": may_view_versions,
        "statuses": statuses,
        "warnings": dashboard_warnings(request, queues=queues, statuses=statuses),
        **(extra_context or {}),
    }
    request.current_app = site.name
    return TemplateResponse(request, "admin/index.html", context)


def dashboard_warnings(request, *, queues, statuses) -> list[dict]:
    """What needs an operator: ``[{text, url}]`` (paused schedules, held versions, stale jobs, failures, no worker)."""
    warnings = []
    for queue in queues or []:
        if not queue.workers:
            warnings.append({"text": f"No live worker consumes the {queue.queue} queue: its tasks wait.", "url": ""})
    now = timezone.now()
    for status in statuses:
        source = status.source
        url = reverse("admin:sources_source_change", args=[source.pk])
        if source.sync_paused:
            warnings.append(
                {
                    "text": f"Scheduled syncs of {source} are paused since {timesince(source.sync_paused_at, now)} ago"
                    f" ({source.sync_paused_reason}).",
                    "url": url,
                }
            )
        if status.last_job and status.last_job.status == SyncJob.Status.FAILED and not status.running_job:
            warnings.append({"text": f"The last sync of {source} failed: {status.last_job.message}", "url": url})
    if request.user.has_perm("sources.view_source"):
        for job in selectors.stale_sync_jobs():
            warnings.append(
                {
                    "text": f"Sync job #{job.pk} of {job.source} has made no progress for "
                    f"{timesince(job.heartbeat_at or job.created_at, now)}: its worker may have died "
                    "(beat resumes it within a minute if one is alive).",
                    "url": reverse("admin:sources_source_change", args=[job.source_id]),
                }
            )
    if request.user.has_perm("index_versions.view_indexversion"):
        for version in selectors.versions_held_by_gate():
            warnings.append(
                {
                    "text": f"Version {version.pk} ({version.note or version.get_trigger_display()}) is "
                    f"{selectors.evaluation_summary(version)}.",
                    "url": reverse("admin:index_versions_indexversion_changelist"),
                }
            )
    return warnings
