"""Console pages of sources: sources with their sync actions, documents (purge, stale duplicates), jobs, uploads."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import path

from index_versions.selectors import index_version_active
from index_versions.services.purge import document_purge
from ingest.lifecycle import sync_job_cancel, sync_job_request
from retrieval.reports import stale_duplicates
from sources.connectors import ConfigError, get_connector
from sources.models import Document, Source, SyncJob, UploadedFile
from sources.services.schedules import source_schedule_pause, source_schedule_resume


class SourceForm(forms.ModelForm):
    class Meta:
        model = Source
        fields = ["name", "kind", "config", "enabled", "sync_interval_minutes"]

    def clean(self):
        cleaned = super().clean()
        if "kind" in cleaned and "config" in cleaned:
            try:
                cleaned["config"] = get_connector(cleaned["kind"]).validate_config(cleaned["config"])
            except ConfigError as exc:
                self.add_error("config", str(exc))
        return cleaned


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    form = SourceForm
    list_display = ["name", "kind", "enabled", "sync_interval_minutes", "paused", "last_synced_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    readonly_fields = ["last_synced_at", "sync_paused_at", "sync_paused_reason"]
    actions = ["sync_now", "pause_schedule", "resume_schedule"]

    @admin.display(boolean=True, description="schedule paused")
    def paused(self, source):
        return source.sync_paused

    @admin.action(description="Sync the selected sources now")
    def sync_now(self, request, queryset):
        for source in queryset:
            job, created = sync_job_request(source=source, requested_by=request.user)
            verb = "queued" if created else "already in flight"
            self.message_user(request, f"{source}: sync job #{job.pk} {verb}.", messages.INFO)

    @admin.action(description="Pause scheduled syncs")
    def pause_schedule(self, request, queryset):
        for source in queryset:
            source_schedule_pause(source=source, actor=request.user)
        self.message_user(request, f"Paused {queryset.count()} source(s).", messages.SUCCESS)

    @admin.action(description="Resume scheduled syncs (paused by a rollback or revert)")
    def resume_schedule(self, request, queryset):
        for source in queryset:
            source_schedule_resume(source=source, actor=request.user)
        self.message_user(request, f"Resumed {queryset.count()} source(s).", messages.SUCCESS)


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "source", "external_id", "modified_at", "purged_at"]
    list_filter = ["source"]
    search_fields = ["title", "external_id"]
    readonly_fields = ["source", "external_id", "title", "uri", "content_hash", "modified_at", "purged_at", "purged_by"]
    actions = ["purge"]

    def has_add_permission(self, request):
        return False  # documents come from syncs

    def get_urls(self):
        report = path(
            "stale-duplicates/",
            self.admin_site.admin_view(self.stale_duplicates_view),
            name="sources_document_stale_duplicates",
        )
        return [report, *super().get_urls()]

    def stale_duplicates_view(self, request):
        """The stale duplicates report (retrieval.reports.stale_duplicates) of the active version, 100 groups."""
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

    @admin.action(description="Purge the selected documents from every index version (irreversible)")
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
    list_display = ["id", "source", "status", "phase", "progress", "index_version", "created_at", "finished_at"]
    list_filter = ["status", "source"]
    readonly_fields = [f.name for f in SyncJob._meta.fields]
    actions = ["cancel"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="progress")
    def progress(self, job):
        return f"{job.progress_done} / {job.progress_total if job.progress_total is not None else '?'}"

    @admin.action(description="Cancel the selected sync jobs")
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
