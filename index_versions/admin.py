from django.contrib import admin, messages

from index_versions import services
from index_versions.models import Activation, IndexVersion
from ragplatform.errors import ApplicationError


@admin.register(IndexVersion)
class IndexVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "state", "created_at", "activated_at", "parent", "note"]
    list_filter = ["state"]
    readonly_fields = [f.name for f in IndexVersion._meta.fields]
    actions = ["activate"]

    @admin.action(description="Activate (or roll back to) the selected version")
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        try:
            version = services.index_version_activate(version=queryset.get(), actor=request.user, reason="admin")
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, f"Version {version.pk} is now active.", messages.SUCCESS)


@admin.register(Activation)
class ActivationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "from_version", "to_version", "actor", "reason"]
    readonly_fields = ["created_at", "from_version", "to_version", "actor", "reason"]
