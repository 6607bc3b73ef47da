"""Console pages of sources: the sources list with sync status, the source page (live progress, history,
errors, Sync now / Cancel / Pause / Resume / Undo last sync), documents (purge, stale duplicates), jobs, uploads."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from console import selectors
from index_versions.selectors import index_version_active
from index_versions.services.building import index_version_revert_source
from index_versions.services.purge import document_purge
from ingest.lifecycle import sync_job_cancel, sync_job_request
from ragplatform.exceptions import ApplicationError
from retrieval.reports import stale_duplicates
from sources.connectors import ConfigError, get_connector
from sources.models import Document, Source, SyncItem, SyncJob, UploadedFile
from sources.services.crud import source_create, source_delete, source_update
from sources.services.schedules import source_schedule_pause, source_schedule_resume

SYNC_PERMISSION = "sources.sync_source"
CHANGE_PERMISSION = "sources.change_source"
UNDO_PERMISSION = "index_versions.activate_indexversion"


class SourceForm(forms.ModelForm):
    class Meta:
        model = Source
        fields = ["name", "kind", "config", "enabled", "sync_interval_minutes"]
        help_texts = {
            "config": 'JSON. A folder: {"path": "/abs/dir"}; see the README for every kind.',
            "sync_interval_minutes": "Empty: synced on request only.",
        }

    def clean(self):
        cleaned = super().clean()
        if "kind" in cleaned and "config" in cleaned:
            try:
                cleaned["config"] = get_connector(cleaned["kind"]).validate_config(cleaned["config"])
            except ConfigError as exc:
                self.add_error("config", str(exc))
        return cleaned


def sync_job_stage(job: SyncJob | None) -> str:
    """A job's state in words: its phase only while it runs, how it ended once it has."""
    if job is None:
        return "never synced"
    if job.status == SyncJob.Status.QUEUED:
        return "queued"
    if job.status == SyncJob.Status.RUNNING:
        return f"running: {job.get_phase_display().lower()}"
    if job.status == SyncJob.Status.PARTIAL:
        failed = len(job.errors)
        return f"finished with {failed} failed document{'s' if failed != 1 else ''}"
    if job.status == SyncJob.Status.SUCCEEDED:
        return "succeeded (no changes)" if job.message == "no changes" else "succeeded"
    return job.get_status_display().lower()


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    """Sources with how their syncs are doing; the source page is where an operator syncs, cancels and undoes."""

    form = SourceForm
    list_display = ["name", "kind", "last_sync", "next_run", "documents", "failing", "schedule"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    readonly_fields = ["last_synced_at", "sync_paused_at", "sync_paused_reason"]
    actions = ["sync_now", "pause_schedule", "resume_schedule"]

    # --- permissions ------------------------------------------------------------------------
    def has_sync_permission(self, request, obj=None):
        return request.user.has_perm(SYNC_PERMISSION)

    def has_undo_permission(self, request, obj=None):
        return request.user.has_perm(UNDO_PERMISSION)

    def _require(self, request, permission: str) -> None:
        if request.method != "POST" or not request.user.has_perm(permission):
            raise PermissionDenied

    # --- the list ---------------------------------------------------------------------------
    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Sources", **(extra_context or {})})

    def get_changelist_instance(self, request):
        """Each source of the page gets its status (last and running job, documents) in a few queries."""
        changelist = super().get_changelist_instance(request)
        sources = list(changelist.result_list)  # evaluated once; the template reuses these instances
        for status in selectors.source_statuses(sources):
            status.source.console_status = status
        return changelist

    @admin.display(description="last sync")
    def last_sync(self, source):
        status = source.console_status
        job = status.running_job or status.last_job
        if job is None:
            return "never synced"
        when = job.finished_at or job.started_at or job.created_at
        return format_html('{}<br><span class="console-quiet">{}</span>', sync_job_stage(job), _when(when))

    @admin.display(description="next scheduled run")
    def next_run(self, source):
        run = source.console_status.next_run
        return run.label or _when(run.at)

    @admin.display(description="documents")
    def documents(self, source):
        count = source.console_status.documents
        return "—" if count is None else count

    @admin.display(description="failing")
    def failing(self, source):
        failing = source.console_status.failing
        return format_html('<span class="badge bad">{}</span>', len(failing)) if failing else "none"

    @admin.display(description="schedule")
    def schedule(self, source):
        if source.sync_paused:
            return mark_safe('<span class="badge warn">paused</span>')
        if source.sync_interval_minutes:
            return f"every {source.sync_interval_minutes} min"
        return "on request"

    # --- writes go through the services ------------------------------------------------------
    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in SourceForm.Meta.fields if name in form.cleaned_data}
        if change:
            source_update(source=obj, data={name: fields[name] for name in form.changed_data if name in fields})
        else:
            obj.pk = source_create(**fields).pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        source_delete(source=obj)

    def delete_queryset(self, request, queryset):
        for source in queryset:
            source_delete(source=source)

    # --- list actions -----------------------------------------------------------------------
    @admin.action(description="Sync the selected sources now", permissions=["sync"])
    def sync_now(self, request, queryset):
        for source in queryset:
            self._sync_request(request, source)

    @admin.action(description="Pause scheduled syncs", permissions=["change"])
    def pause_schedule(self, request, queryset):
        for source in queryset:
            source_schedule_pause(source=source, actor=request.user)
        self.message_user(request, f"Paused {queryset.count()} source(s).", messages.SUCCESS)

    @admin.action(description="Resume scheduled syncs", permissions=["change"])
    def resume_schedule(self, request, queryset):
        for source in queryset:
            source_schedule_resume(source=source, actor=request.user)
        self.message_user(request, f"Resumed {queryset.count()} source(s).", messages.SUCCESS)

    def _sync_request(self, request, source):
        try:
            job, created = sync_job_request(source=source, requested_by=request.user)
        except ApplicationError as exc:
            self.message_user(request, f"{source}: {exc.message}", messages.ERROR)
            return
        verb = "queued" if created else "already in flight"
        self.message_user(request, f"{source}: sync job #{job.pk} {verb}.", messages.INFO)

    # --- the source page ----------------------------------------------------------------------
    def get_urls(self):
        def route(suffix, view, name):
            return path(f"<int:source_id>/{suffix}/", self.admin_site.admin_view(view), name=f"sources_source_{name}")

        return [
            route("live", self.live_view, "live"),
            route("sync", self.sync_view, "sync"),
            route("cancel", self.cancel_view, "cancel"),
            route("pause", self.pause_view, "pause"),
            route("resume", self.resume_view, "resume"),
            route("undo", self.undo_view, "undo"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        source = self.get_object(request, object_id)
        extra = {}
        if source is not None:
            extra = {"panel": self.panel_context(request, source), "title": str(source), "subtitle": None}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def panel_context(self, request, source) -> dict:
        """What the live panel of the source page shows: the job in flight (or the last), history, errors."""
        source.refresh_from_db()
        history = selectors.sync_job_history(source=source)
        running = next((job for job in history if not job.is_finished), None)
        last_finished = next((job for job in history if job.is_finished), None)
        shown = running or last_finished
        failing_now = []
        if running is not None:
            failing_now = list(
                SyncItem.objects.filter(job=running, state=SyncItem.State.FAILED).values("external_id", "reason")[:50]
            )
        user = request.user
        return {
            "source": source,
            "job": shown,
            "progress": selectors.sync_job_progress(shown) if shown else None,
            "stage": sync_job_stage(shown),
            "in_flight": running is not None,
            "history": [{"job": job, "stage": sync_job_stage(job)} for job in history],
            "errors": (
                [{"document": item["external_id"], "reason": item["reason"]} for item in failing_now]
                if running
                else list(last_finished.errors if last_finished else [])
            ),
            "next_run": selectors.source_next_run(source),
            "documents": selectors.source_document_count(source.pk, version=index_version_active()),
            "may_sync": user.has_perm(SYNC_PERMISSION),
            "may_change": user.has_perm(CHANGE_PERMISSION),
            "may_undo": user.has_perm(UNDO_PERMISSION),
            # Job records (history, per-document errors) carry document paths: their own permission.
            "may_view_jobs": user.has_perm("sources.view_syncjob"),
        }

    def _source(self, request, source_id) -> Source:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(Source, pk=source_id)

    def _back(self, source) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:sources_source_change", args=[source.pk]))

    def live_view(self, request, source_id):
        """The panel alone, polled by the page (console.js) while a sync is in flight."""
        source = self._source(request, source_id)
        return TemplateResponse(request, "console/source_panel.html", {"panel": self.panel_context(request, source)})

    def sync_view(self, request, source_id):
        self._require(request, SYNC_PERMISSION)
        source = self._source(request, source_id)
        self._sync_request(request, source)
        return self._back(source)

    def cancel_view(self, request, source_id):
        self._require(request, SYNC_PERMISSION)
        source = self._source(request, source_id)
        job = SyncJob.objects.filter(source=source, status__in=SyncJob.IN_FLIGHT).first()
        if job is None:
            self.message_user(request, "No sync of this source is in flight.", messages.WARNING)
        else:
            try:
                sync_job_cancel(job=job, actor=request.user)
                self.message_user(request, f"Cancel of sync job #{job.pk} requested.", messages.INFO)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.WARNING)
        return self._back(source)

    def pause_view(self, request, source_id):
        self._require(request, CHANGE_PERMISSION)
        source = self._source(request, source_id)
        source_schedule_pause(source=source, actor=request.user, reason=request.POST.get("reason", ""))
        self.message_user(request, f"Scheduled syncs of {source} are paused.", messages.SUCCESS)
        return self._back(source)

    def resume_view(self, request, source_id):
        self._require(request, CHANGE_PERMISSION)
        source = self._source(request, source_id)
        source_schedule_resume(source=source, actor=request.user)
        self.message_user(request, f"Scheduled syncs of {source} are resumed.", messages.SUCCESS)
        return self._back(source)

    def undo_view(self, request, source_id):
        """GET: what undoing the source's last sync changes; POST: restore it from the version before it."""
        if not request.user.has_perm(UNDO_PERMISSION):
            raise PermissionDenied
        source = self._source(request, source_id)
        plan = selectors.source_undo_plan(source=source, user=request.user)
        if request.method == "POST":
            if not plan.possible:
                self.message_user(request, plan.problem, messages.WARNING)
                return self._back(source)
            try:
                version = index_version_revert_source(source=source, version=plan.restore, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Sync #{plan.job.pk} of {source} undone: version {version.pk} is active, with {source} as in "
                    f"version {plan.restore.pk}. Its scheduled syncs are paused.",
                    messages.SUCCESS,
                )
            return self._back(source)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Undo the last sync of {source}?",
            "opts": self.model._meta,
            "source": source,
            "plan": plan,
        }
        return TemplateResponse(request, "admin/sources/source/confirm_undo.html", context)


def _when(moment) -> str:
    if moment is None:
        return ""
    local = timezone.localtime(moment)
    return local.strftime("%Y-%m-%d %H:%M")


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "source", "external_id", "modified_at", "purged_at"]
    list_filter = ["source"]
    search_fields = ["title", "external_id"]
    readonly_fields = ["source", "external_id", "title", "uri", "content_hash", "modified_at", "purged_at", "purged_by"]
    actions = ["purge"]

    def has_add_permission(self, request):
        return False  # documents come from syncs

    def has_purge_permission(self, request, obj=None):
        return request.user.has_perm("sources.purge_document")

    def get_urls(self):
        report = path(
            "stale-duplicates/",
            self.admin_site.admin_view(self.stale_duplicates_view),
            name="sources_document_stale_duplicates",
        )
        return [report, *super().get_urls()]

    def stale_duplicates_view(self, request):
        """The stale duplicates report (retrieval.reports.stale_duplicates) of the active version, 100 groups."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        version = index_version_active()
        try:
            min_days = max(float(request.GET.get("min_days") or 0), 0)
        except ValueError:
            min_days = 0
        report = stale_duplicates(version=version, min_days=min_days) if version else None
        context = {
            **self.admin_site.each_context(request),
            "title": "Stale duplicates",
            "opts": self.model._meta,
            "version": version,
            "min_days": min_days,
            "count": report.count() if report else 0,
            "groups": report[0:100] if report else [],
        }
        return TemplateResponse(request, "admin/sources/stale_duplicates.html", context)

    @admin.action(
        description="Purge the selected documents from every index version (irreversible)", permissions=["purge"]
    )
    def purge(self, request, queryset):
        if request.POST.get("confirmed") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Purge documents for good?",
                "opts": self.model._meta,
                "documents": queryset,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/sources/confirm_purge.html", context)
        for document in queryset:
            document_purge(document=document, actor=request.user)
        self.message_user(request, f"Purged {queryset.count()} document(s) from every version.", messages.SUCCESS)
        return None


@admin.register(SyncJob)
class SyncJobAdmin(admin.ModelAdmin):
    """Every sync job; the source page shows a source's own. A finished job reads as finished, not by its last phase."""

    list_display = ["id", "source", "state", "progress", "index_version", "created_at", "finished_at"]
    list_filter = ["status", "source"]
    actions = ["cancel"]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        # The phase means something only while the job runs: "state" says it, or how the job ended.
        return ["state", *(f.name for f in SyncJob._meta.fields if f.name not in ("phase", "id"))]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # jobs are records; a sync is changed by cancelling it

    def has_sync_permission(self, request, obj=None):
        return request.user.has_perm(SYNC_PERMISSION)

    @admin.display(description="state")
    def state(self, job):
        return sync_job_stage(job)

    @admin.display(description="progress")
    def progress(self, job):
        return f"{job.progress_done} / {job.progress_total if job.progress_total is not None else '?'}"

    @admin.action(description="Cancel the selected sync jobs", permissions=["sync"])
    def cancel(self, request, queryset):
        for job in queryset.filter(status__in=SyncJob.IN_FLIGHT):
            sync_job_cancel(job=job, actor=request.user)
        self.message_user(request, "Cancel requested.", messages.INFO)


@admin.register(UploadedFile)
class UploadedFileAdmin(admin.ModelAdmin):
    """Files of upload sources: added and replaced through the API, removable here."""

    list_display = ["name", "source", "size", "media_type", "uploaded_at", "uploaded_by"]
    list_filter = ["source"]
    search_fields = ["name"]
    exclude = ["content"]
    readonly_fields = ["source", "name", "size", "media_type", "content_hash", "uploaded_at", "uploaded_by"]

    def has_add_permission(self, request):
        return False
