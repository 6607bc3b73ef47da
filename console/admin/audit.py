"""Console page of the audit trail: filters by action, actor, source and time; the filtered events as JSONL."""

import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html

from acl.models import AuditEvent
from sources.models import Source


class SourceFilter(admin.SimpleListFilter):
    """Events about one source: its syncs' schedule, grants, reverts (``target`` is ``source:<id>``)."""

    title = "source"
    parameter_name = "source"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in Source.objects.values_list("pk", "name")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(target=f"source:{self.value()}")
        return queryset


def audit_event_json(event: AuditEvent) -> dict:
    return {
        "id": event.pk,
        "created_at": event.created_at,
        "actor": event.actor.username if event.actor else None,
        "service_account": event.service_account.name if event.service_account else None,
        "action": event.action,
        "target": event.target,
        "details": event.details,
        "index_version": event.index_version,
        "result_count": event.result_count,
    }


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "service_account", "action", "target", "summary", "result_count"]
    list_filter = [
        "action",
        ("actor", admin.RelatedOnlyFieldListFilter),
        SourceFilter,
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["actor", "service_account"]
    date_hierarchy = "created_at"
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # the trail is append-only

    def has_delete_permission(self, request, obj=None):
        return False  # purged by retention (audit_purge), which records itself

    @admin.display(description="details")
    def summary(self, event):
        text = json.dumps(event.details, cls=DjangoJSONEncoder, ensure_ascii=False)
        return format_html('<span class="console-quiet">{}</span>', text if len(text) <= 160 else text[:157] + "…")

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Audit trail", **(extra_context or {})})

    def get_urls(self):
        export = path("export/", self.admin_site.admin_view(self.export_view), name="acl_auditevent_export")
        return [export, *super().get_urls()]

    def export_view(self, request):
        """The events the list shows with the same filters, every page of them, one JSON object per line."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        events = self.get_changelist_instance(request).get_queryset(request)
        lines = (json.dumps(audit_event_json(event), cls=DjangoJSONEncoder) + "\n" for event in events.iterator())
        response = StreamingHttpResponse(lines, content_type="application/x-ndjson")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.jsonl"'
        return response
