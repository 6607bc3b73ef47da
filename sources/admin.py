from django.contrib import admin, messages

from sources import services
from sources.models import Document, Source, SyncJob


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "enabled", "last_synced_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    actions = ["sync_now"]

    @admin.action(description="Sync the selected sources now")
    def sync_now(self, request, queryset):
        for source in queryset:
            job, created = services.sync_job_request(source=source, requested_by=request.user)
            verb = "queued" if created else "already in flight"
            self.message_user(request, f"{source}: sync job #{job.pk} {verb}.", messages.INFO)


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "source", "external_id", "modified_at", "updated_at"]
    list_filter = ["source"]
    search_fields = ["title", "external_id"]
    readonly_fields = ["source", "external_id", "title", "uri", "content_hash", "modified_at"]


@admin.register(SyncJob)
class SyncJobAdmin(admin.ModelAdmin):
    list_display = ["id", "source", "status", "index_version", "created_at", "finished_at"]
    list_filter = ["status", "source"]
    readonly_fields = [f.name for f in SyncJob._meta.fields]
