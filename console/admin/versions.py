"""Console pages of index versions: the versions list with one-click activate / roll back, pins, activations."""

from django.contrib import admin, messages
from django.db.models import JSONField, OuterRef, Subquery
from django.db.models.functions import JSONObject
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from index_versions import selectors
from index_versions.models import Activation, IndexVersion
from index_versions.services.activation import index_version_activate, index_version_pin
from ragplatform.exceptions import ApplicationError
from retrieval.models import VersionEvaluation

_EVALUATION_FIELDS = ("metric", "score", "baseline_id", "baseline_score", "tolerance", "passed", "reason")


def evaluation_summary(version) -> str:
    """The latest gate result, e.g. "held by the evaluation gate: nDCG@10 0.610 < 0.660 - 0.02 (version 11)"."""
    data = getattr(version, "latest_evaluation", None)
    if not hasattr(version, "latest_evaluation"):  # not from the changelist's annotated queryset
        latest = VersionEvaluation.objects.filter(version=version).order_by("-id").first()
        data = latest and {name: getattr(latest, name) for name in _EVALUATION_FIELDS}
    if not data:
        return ""
    evaluation = VersionEvaluation(**data)
    verdict = evaluation.verdict()
    if not evaluation.passed and version.state == IndexVersion.State.READY:
        return "held by the evaluation gate: " + verdict.removeprefix("failed: ")
    return verdict


@admin.register(IndexVersion)
class IndexVersionAdmin(admin.ModelAdmin):
    """The versions page: one-click activate / roll back (after a diff), pin, unpin."""

    list_display = [
        "id", "state", "pinned", "created_at", "activated_at", "parent", "note", "documents", "evaluation", "switch",
    ]  # fmt: skip
    list_filter = ["state", "pinned"]
    readonly_fields = [f.name for f in IndexVersion._meta.fields]
    actions = ["pin", "unpin"]

    def get_queryset(self, request):
        # The active version's id on every row: one query for the page, not one per row.
        active = IndexVersion.objects.filter(state=IndexVersion.State.ACTIVE).values("pk")[:1]
        # Likewise the latest evaluation-gate result (retrieval.evaluation.gate), as one JSON object.
        latest = (
            VersionEvaluation.objects.filter(version=OuterRef("pk"))
            .order_by("-id")
            .values(data=JSONObject(**{name: name for name in _EVALUATION_FIELDS}))[:1]
        )
        return (
            super()
            .get_queryset(request)
            .annotate(active_id=Subquery(active), latest_evaluation=Subquery(latest, output_field=JSONField()))
        )

    def has_add_permission(self, request):
        return False  # versions come from syncs, reverts and rebuilds

    def has_delete_permission(self, request, obj=None):
        return False  # retention deletes versions; by hand they would break rollback

    @admin.display(description="documents")
    def documents(self, version):
        return version.counts.get("documents")

    @admin.display(description="evaluation gate")
    def evaluation(self, version):
        return evaluation_summary(version)

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
        active = selectors.index_version_active()
        changelist = reverse("admin:index_versions_indexversion_changelist")
        if request.method == "POST":
            try:
                index_version_activate(version=version, actor=request.user, reason="admin")
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
            "evaluation": evaluation_summary(version),
            "changelist": changelist,
        }
        return TemplateResponse(request, "admin/index_versions/confirm_activate.html", context)

    @admin.action(description="Pin the selected versions (retention keeps them)")
    def pin(self, request, queryset):
        for version in queryset:
            index_version_pin(version=version, pinned=True, actor=request.user)
        self.message_user(request, f"Pinned {queryset.count()} version(s).", messages.SUCCESS)

    @admin.action(description="Unpin the selected versions")
    def unpin(self, request, queryset):
        for version in queryset:
            index_version_pin(version=version, pinned=False, actor=request.user)
        self.message_user(request, f"Unpinned {queryset.count()} version(s).", messages.SUCCESS)


@admin.register(Activation)
class ActivationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "from_version", "to_version", "actor", "reason"]
    readonly_fields = ["created_at", "from_version", "to_version", "actor", "reason"]

    def has_add_permission(self, request):
        return False
