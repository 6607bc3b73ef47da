"""Console pages of index versions: the timeline (trigger, counts, gate verdict), one-click roll back after a diff
naming sources and documents, pin and unpin, and the activation history."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import CharField, DateTimeField, JSONField, OuterRef, Subquery
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from console.selectors import activation_reason_label, evaluation_summary, latest_evaluation_subquery
from index_versions import selectors
from index_versions.models import Activation, IndexVersion
from index_versions.services.activation import index_version_activate, index_version_pin
from ragplatform.exceptions import ApplicationError
from sources.models import Source

ACTIVATE_PERMISSION = "index_versions.activate_indexversion"
PIN_PERMISSION = "index_versions.change_indexversion"


@admin.register(IndexVersion)
class IndexVersionAdmin(admin.ModelAdmin):
    """The versions timeline: what made each version, what it holds, the gate's verdict; roll back, pin, unpin."""

    list_display = ["id", "state", "trigger", "trigger_source", "created_at", "activated_at", "pinned"]
    list_filter = ["state", "trigger", "pinned"]
    list_select_related = ["trigger_source", "created_by", "pipeline"]
    list_per_page = 30
    readonly_fields = [f.name for f in IndexVersion._meta.fields]
    actions = ["pin", "unpin"]

    def get_queryset(self, request):
        # The active version's id on every row: one query for the page, not one per row.
        active = IndexVersion.objects.filter(state=IndexVersion.State.ACTIVE).values("pk")[:1]
        # Why and when each version last became active (index_versions.Activation).
        activations = Activation.objects.filter(to_version=OuterRef("pk")).order_by("-created_at", "-id")
        return (
            super()
            .get_queryset(request)
            .annotate(
                active_id=Subquery(active),
                latest_evaluation=Subquery(latest_evaluation_subquery(), output_field=JSONField()),
                activation_reason=Subquery(activations.values("reason")[:1], output_field=CharField()),
                activation_at=Subquery(activations.values("created_at")[:1], output_field=DateTimeField()),
            )
        )

    def has_add_permission(self, request):
        return False  # versions come from syncs, reverts and rebuilds

    def has_delete_permission(self, request, obj=None):
        return False  # retention deletes versions; by hand they would break rollback

    def has_pin_permission(self, request, obj=None):
        return request.user.has_perm(PIN_PERMISSION)

    def changelist_view(self, request, extra_context=None):
        extra = {
            "may_activate": request.user.has_perm(ACTIVATE_PERMISSION),
            "may_pin": request.user.has_perm(PIN_PERMISSION),
            "title": "Versions",
        }
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def get_changelist_instance(self, request):
        """The timeline's rows: each version with its label, gate verdict and whether it is a roll back."""
        changelist = super().get_changelist_instance(request)
        for version in list(changelist.result_list):
            version.gate = evaluation_summary(version)
            version.held = version.gate.startswith("held")
            version.activation_label = activation_reason_label(version.activation_reason or "", version)
            version.switch_label = ""
            if version.state in IndexVersion.ACTIVATABLE:
                older = version.active_id is not None and version.pk < version.active_id
                version.switch_label = "Roll back" if older else "Activate"
        return changelist

    def get_urls(self):
        return [
            path(
                "<int:version_id>/activate/",
                self.admin_site.admin_view(self.activate_view),
                name="index_versions_indexversion_activate",
            ),
            path(
                "<int:version_id>/pin/",
                self.admin_site.admin_view(self.pin_view),
                name="index_versions_indexversion_pin",
            ),
            *super().get_urls(),
        ]

    def activate_view(self, request, version_id):
        """GET shows what would change against the active version, by source and document; POST switches."""
        if not request.user.has_perm(ACTIVATE_PERMISSION):
            raise PermissionDenied
        version = get_object_or_404(selectors.index_version_list(), pk=version_id)
        active = selectors.index_version_active()
        changelist = reverse("admin:index_versions_indexversion_changelist")
        if request.method == "POST":
            try:
                index_version_activate(version=version, actor=request.user, reason="console")
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"Version {version.pk} is now active.", messages.SUCCESS)
            return HttpResponseRedirect(changelist)
        diff = None
        if active is not None and active.pk != version.pk:
            diff = selectors.index_version_diff(version=version, against=active, user=request.user)
        verb = "Roll back to" if active is not None and version.pk < active.pk else "Activate"
        context = {
            **self.admin_site.each_context(request),
            "title": f"{verb} index version {version.pk}?",
            "opts": self.model._meta,
            "version": version,
            "active": active,
            "diff": diff,
            "diff_by_source": diff_by_source(diff) if diff else [],
            "evaluation": evaluation_summary(version),
            "changelist": changelist,
        }
        return TemplateResponse(request, "admin/index_versions/confirm_activate.html", context)

    def pin_view(self, request, version_id):
        """POST ``pinned=1`` pins (retention keeps the version), ``pinned=0`` unpins."""
        if request.method != "POST" or not request.user.has_perm(PIN_PERMISSION):
            raise PermissionDenied
        version = get_object_or_404(IndexVersion, pk=version_id)
        pinned = request.POST.get("pinned") == "1"
        index_version_pin(version=version, pinned=pinned, actor=request.user)
        self.message_user(request, f"Version {version.pk} {'pinned' if pinned else 'unpinned'}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:index_versions_indexversion_changelist"))

    @admin.action(description="Pin the selected versions (retention keeps them)", permissions=["pin"])
    def pin(self, request, queryset):
        for version in queryset:
            index_version_pin(version=version, pinned=True, actor=request.user)
        self.message_user(request, f"Pinned {queryset.count()} version(s).", messages.SUCCESS)

    @admin.action(description="Unpin the selected versions", permissions=["pin"])
    def unpin(self, request, queryset):
        for version in queryset:
            index_version_pin(version=version, pinned=False, actor=request.user)
        self.message_user(request, f"Unpinned {queryset.count()} version(s).", messages.SUCCESS)


def diff_by_source(diff) -> list[dict]:
    """A version diff grouped by source, with the source's name: ``[{source, added, removed, changed}]``."""
    entries = [("added", e) for e in diff.added] + [("removed", e) for e in diff.removed]
    entries += [("changed", e) for e in diff.changed]
    names = Source.objects.in_bulk({entry["source_id"] for _, entry in entries})
    groups: dict[int, dict] = {}
    for change, entry in entries:
        source = names.get(entry["source_id"])
        group = groups.setdefault(
            entry["source_id"],
            {"source": source or f"source {entry['source_id']} (deleted)", "added": [], "removed": [], "changed": []},
        )
        group[change].append(entry)
    return sorted(groups.values(), key=lambda group: str(group["source"]))


@admin.register(Activation)
class ActivationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "from_version", "to_version", "actor", "reason"]
    readonly_fields = ["created_at", "from_version", "to_version", "actor", "reason"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
