from django.contrib import admin, messages
from django.db.models import Subquery
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from index_versions import selectors, services
from index_versions.models import Activation, IndexVersion
from ragplatform.errors import ApplicationError


@admin.register(IndexVersion)
class IndexVersionAdmin(admin.ModelAdmin):
    """The versions page: one-click activate / roll back (after a diff), pin, unpin."""

    list_display = ["id", "state", "pinned", "created_at", "activated_at", "parent", "note", "documents", "switch"]
    list_filter = ["state", "pinned"]
    readonly_fields = [f.name for f in IndexVersion._meta.fields]
    actions = ["pin", "unpin"]

    def get_queryset(self, request):
        # The active version's id on every row: one query for the page, not one per row.
        active = IndexVersion.objects.filter(state=IndexVersion.State.ACTIVE).values("pk")[:1]
        return super().get_queryset(request).annotate(active_id=Subquery(active))

    def has_add_permission(self, request):
        return False  # versions come from syncs, reverts and rebuilds

    def has_delete_permission(self, request, obj=None):
        return False  # retention deletes versions; by hand they would break rollback

    @admin.display(description="documents")
    def documents(self, version):
        return version.counts.get("documents")

    @admin.display(description="")
    def switch(self, version):
        if version.state not in IndexVersion.ACTIVATABLE:
            return ""
        label = "Roll back" if version.active_id is not None and version.pk < version.active_id else "Activate"
        url = reverse("admin:index_versions_indexversion_activate", args=[version.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, label)

    def get_urls(self):
        return [
            path(
                "<int:version_id>/activate/",
                self.admin_site.admin_view(self.activate_view),
                name="index_versions_indexversion_activate",
            ),
            *super().get_urls(),
        ]

    def activate_view(self, request, version_id):
        """GET shows what would change against the active version; POST switches."""
        if not self.has_change_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        version = get_object_or_404(selectors.index_version_list(), pk=version_id)
        active = services.index_version_active()
        changelist = reverse("admin:index_versions_indexversion_changelist")
        if request.method == "POST":
            try:
                services.index_version_activate(version=version, actor=request.user, reason="admin")
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"Version {version.pk} is now active.", messages.SUCCESS)
            return HttpResponseRedirect(changelist)
        diff = None
        if active is not None and active.pk != version.pk:
            diff = selectors.index_version_diff(version=version, against=active, user=request.user)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Activate index version {version.pk}?",
            "opts": self.model._meta,
            "version": version,
            "active": active,
            "diff": diff,
            "changelist": changelist,
        }
        return TemplateResponse(request, "admin/index_versions/confirm_activate.html", context)

    @admin.action(description="Pin the selected versions (retention keeps them)")
    def pin(self, request, queryset):
        for version in queryset:
            services.index_version_pin(version=version, pinned=True, actor=request.user)
        self.message_user(request, f"Pinned {queryset.count()} version(s).", messages.SUCCESS)

    @admin.action(description="Unpin the selected versions")
    def unpin(self, request, queryset):
        for version in queryset:
            services.index_version_pin(version=version, pinned=False, actor=request.user)
        self.message_user(request, f"Unpinned {queryset.count()} version(s).", messages.SUCCESS)


@admin.register(Activation)
class ActivationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "from_version", "to_version", "actor", "reason"]
    readonly_fields = ["created_at", "from_version", "to_version", "actor", "reason"]

    def has_add_permission(self, request):
        return False
