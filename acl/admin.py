from django.contrib import admin

from acl.models import AuditEvent, SourceGrant


@admin.register(SourceGrant)
class SourceGrantAdmin(admin.ModelAdmin):
    list_display = ["source", "user", "group", "created_by", "created_at"]
    list_filter = ["source"]
    autocomplete_fields = ["user", "group"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "target"]
    list_filter = ["action"]
    readonly_fields = ["created_at", "actor", "action", "target", "details"]
