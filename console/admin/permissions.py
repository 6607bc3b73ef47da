"""Console pages of permissions: who may read each source, a user's effective access and why, Check access
for a user and a document, grants, revokes and group memberships; access lists (read-only)."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from acl.models import DocumentAccessList, SourceGrant
from acl.services import grant_create, grant_delete, group_create, group_member_add, group_member_remove
from console import selectors
from ragplatform.exceptions import ApplicationError
from sources.models import Document, Source

GRANT_PERMISSION = "acl.add_sourcegrant"
REVOKE_PERMISSION = "acl.delete_sourcegrant"
GROUP_ADD_PERMISSION = "auth.add_group"
GROUP_CHANGE_PERMISSION = "auth.change_group"


class PrincipalError(ValueError):
    pass


def principal_resolve(text: str, *, create_group: bool = False, actor=None):
    """``"group:NAME"``, ``"user:NAME"`` or a bare name (a user's, else a group's) -> ``("user"|"group", object)``.

    With ``create_group``, a ``group:NAME`` that does not exist yet is created (audited).
    """
    User = get_user_model()
    text = text.strip()
    kind, sep, name = text.partition(":")
    if sep and kind in ("user", "group"):
        name = name.strip()
    else:
        kind, name = "", text
    if not name:
        raise PrincipalError("Name a user or a group: alice, user:alice or group:engineering.")
    user = User.objects.filter(username=name).first() if kind in ("", "user") else None
    group = Group.objects.filter(name=name).first() if kind in ("", "group") else None
    if user is not None and group is not None:
        raise PrincipalError(f"Both a user and a group are named {name!r}: write user:{name} or group:{name}.")
    if user is not None:
        return "user", user
    if group is not None:
        return "group", group
    if kind == "group" and create_group:
        return "group", group_create(name=name, actor=actor)
    raise PrincipalError(f"No user or group named {name!r}.")


@admin.register(SourceGrant)
class SourceGrantAdmin(admin.ModelAdmin):
    """The permissions pages. The list of grants becomes a per-source overview of who may read what."""

    list_display = ["source", "user", "group", "created_by", "created_at"]
    list_filter = ["source"]
    autocomplete_fields = ["user", "group"]

    def has_add_permission(self, request):
        return False  # grants are made on the Permissions page (grant_view), which audits them

    def has_change_permission(self, request, obj=None):
        return False  # a grant is created or revoked, never edited

    def delete_model(self, request, obj):
        grant_delete(grant=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for grant in queryset:
            grant_delete(grant=grant, actor=request.user)

    def get_urls(self):
        def route(suffix, view, name):
            return path(suffix, self.admin_site.admin_view(view), name=f"acl_sourcegrant_{name}")

        return [
            route("grant/", self.grant_view, "grant"),
            route("<int:grant_id>/revoke/", self.revoke_view, "revoke"),
            route("user/", self.user_lookup_view, "user_lookup"),
            route("user/<int:user_id>/", self.user_view, "user"),
            route("membership/", self.membership_view, "membership"),
            route("check/", self.check_view, "check"),
            *super().get_urls(),
        ]

    def _context(self, request, title: str, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "may_grant": request.user.has_perm(GRANT_PERMISSION),
            "may_revoke": request.user.has_perm(REVOKE_PERMISSION),
            "may_add_group": request.user.has_perm(GROUP_ADD_PERMISSION),
            "may_change_group": request.user.has_perm(GROUP_CHANGE_PERMISSION),
            "principal_choices": principal_choices(),
            "everyone": selectors.everyone_group_name(),
            **extra,
        }

    def _require_view(self, request) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied

    @staticmethod
    def _require_post(request, permission: str) -> None:
        if request.method != "POST" or not request.user.has_perm(permission):
            raise PermissionDenied

    def _back(self, request, default: str) -> HttpResponseRedirect:
        target = request.POST.get("next") or default
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = default
        return HttpResponseRedirect(target)

    # --- per source -------------------------------------------------------------------------
    def changelist_view(self, request, extra_context=None):
        """Per source: the users, groups (with member counts) and everyone who may read it; access-listed documents."""
        self._require_view(request)
        context = self._context(
            request,
            "Permissions",
            readers=selectors.source_readers_list(),
            active_users=selectors.active_users_count(),
            **(extra_context or {}),
        )
        return TemplateResponse(request, "admin/acl/sourcegrant/permissions.html", context)

    def grant_view(self, request):
        self._require_post(request, GRANT_PERMISSION)
        source = get_object_or_404(Source, pk=request.POST.get("source"))
        back = self._back(request, reverse("admin:acl_sourcegrant_changelist"))
        try:
            kind, principal = principal_resolve(
                request.POST.get("principal", ""),
                create_group=request.user.has_perm(GROUP_ADD_PERMISSION),
                actor=request.user,
            )
            grant_create(source=source, **{kind: principal}, actor=request.user)
        except (PrincipalError, ApplicationError) as exc:
            self.message_user(request, f"{source}: {getattr(exc, 'message', exc)}", messages.ERROR)
            return back
        self.message_user(request, f"{kind} {principal} may now read {source}.", messages.SUCCESS)
        return back

    def revoke_view(self, request, grant_id):
        self._require_post(request, REVOKE_PERMISSION)
        grant = get_object_or_404(SourceGrant.objects.select_related("source", "user", "group"), pk=grant_id)
        who, source = grant.user or grant.group, grant.source
        grant_delete(grant=grant, actor=request.user)
        self.message_user(request, f"{who} no longer reads {source} through this grant.", messages.SUCCESS)
        return self._back(request, reverse("admin:acl_sourcegrant_changelist"))

    # --- per user ---------------------------------------------------------------------------
    def user_lookup_view(self, request):
        self._require_view(request)
        username = request.GET.get("username", "").strip()
        user = get_user_model().objects.filter(username=username).first() if username else None
        if user is not None:
            return HttpResponseRedirect(reverse("admin:acl_sourcegrant_user", args=[user.pk]))
        if username:
            self.message_user(request, f"No user named {username!r}.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:acl_sourcegrant_changelist"))

    def user_view(self, request, user_id):
        """A user's effective access: every source they can read, through which grant or group, and how much of it."""
        self._require_view(request)
        user = get_object_or_404(get_user_model(), pk=user_id)
        access = selectors.user_effective_access(user=user)
        readable = {entry.source.pk for entry in access}
        everyone = selectors.everyone_group_name()
        groups = selectors.user_groups(user=user)
        context = self._context(
            request,
            f"Effective access of {user}",
            subject=user,
            access=access,
            unreadable=Source.objects.exclude(pk__in=readable),
            groups=[{"group": group, "implicit": group.name == everyone} for group in groups],
            other_groups=Group.objects.exclude(pk__in=[group.pk for group in groups]).order_by("name"),
        )
        return TemplateResponse(request, "admin/acl/sourcegrant/user.html", context)

    def membership_view(self, request):
        """POST ``user``, ``group`` and ``op`` (add or remove): effective on the next query."""
        self._require_post(request, GROUP_CHANGE_PERMISSION)
        user = get_object_or_404(get_user_model(), pk=request.POST.get("user"))
        group = get_object_or_404(Group, pk=request.POST.get("group"))
        if request.POST.get("op") == "remove":
            group_member_remove(group=group, user=user, actor=request.user)
            self.message_user(request, f"{user} left {group}.", messages.SUCCESS)
        else:
            group_member_add(group=group, user=user, actor=request.user)
            self.message_user(request, f"{user} joined {group}.", messages.SUCCESS)
        return self._back(request, reverse("admin:acl_sourcegrant_user", args=[user.pk]))

    # --- check access -------------------------------------------------------------------------
    def check_view(self, request):
        """Check access: may this user read this document in search, and why (the rule of acl.selectors)."""
        self._require_view(request)
        username = request.GET.get("user", "").strip()
        document_query = request.GET.get("document", "").strip()
        subject = get_user_model().objects.filter(username=username).first() if username else None
        document, candidates, decision, problems = None, [], None, []
        if username and subject is None:
            problems.append(f"No user named {username!r}.")
        if document_query:
            if document_query.isdigit():
                document = Document.objects.select_related("source").filter(pk=int(document_query)).first()
            else:
                candidates = list(
                    Document.objects.select_related("source").filter(title__icontains=document_query)[:20]
                )
                if len(candidates) == 1:
                    document, candidates = candidates[0], []
            if document is None and not candidates:
                problems.append(f"No document matches {document_query!r}.")
        if subject is not None and document is not None:
            decision = selectors.access_explain(user=subject, document=document)
        access_list = None
        if document is not None:
            access_list = DocumentAccessList.objects.filter(document=document).first()
        context = self._context(
            request,
            "Check access",
            username=username,
            document_query=document_query,
            subject=subject,
            document=document,
            access_list=access_list,
            candidates=candidates,
            decision=decision,
            problems=problems,
        )
        return TemplateResponse(request, "admin/acl/sourcegrant/check.html", context)


def principal_choices(limit: int = 500) -> list[str]:
    """Suggestions for principal inputs: ``group:NAME`` for every group, ``user:NAME`` for the first users."""
    groups = [f"group:{name}" for name in Group.objects.order_by("name").values_list("name", flat=True)[:limit]]
    users = get_user_model().objects.filter(is_active=True).order_by("username").values_list("username", flat=True)
    return groups + [f"user:{name}" for name in users[:limit]]


@admin.register(DocumentAccessList)
class DocumentAccessListAdmin(admin.ModelAdmin):
    """Read-only: lists come from the source systems through the sync."""

    list_display = ["document", "principals", "updated_at"]
    readonly_fields = ["document", "principals", "updated_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
