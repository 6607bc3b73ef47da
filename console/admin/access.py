"""Console pages of access control: grants, access lists (read-only), service accounts, keys, the audit trail."""

from django.contrib import admin

from acl.models import ApiKey, AuditEvent, DocumentAccessList, ServiceAccount, SourceGrant


@admin.register(SourceGrant)
class SourceGrantAdmin(admin.ModelAdmin):
    list_display = ["source", "user", "group", "created_by", "created_at"]
    list_filter = ["source"]
    autocomplete_fields = ["user", "group"]


@admin.register(DocumentAccessList)
class DocumentAccessListAdmin(admin.ModelAdmin):
    """Read-only: lists come from the source systems through the sync."""

    list_display = ["document", "principals", "updated_at"]
    readonly_fields = ["document", "principals", "updated_at"]

    def has_add_permission(self, request):
        return False


@admin.register(ServiceAccount)
class ServiceAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "may_act_on_behalf", "created_at"]
    readonly_fields = ["user", "created_by", "created_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created, rotated and revoked through the API, which shows a key once."""

    list_display = ["service_account", "prefix", "created_at", "revoked_at"]
    readonly_fields = ["service_account", "prefix", "key_hash", "created_by", "created_at", "revoked_at"]

    def has_add_permission(self, request):
        return False


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
