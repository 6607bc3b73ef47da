"""Console page of the audit trail."""

from django.contrib import admin

from acl.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "service_account", "action", "target", "result_count"]
    list_filter = ["action"]
    readonly_fields = [
        "created_at",
        "actor",
        "service_account",
        "action",
        "target",
        "details",
        "index_version",
        "result_count",
    ]
