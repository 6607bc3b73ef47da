"""Who may read what, and why: grant paths, effective access, a document's access decision."""

from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Count, Q

from acl.models import DocumentAccessList, SourceGrant
from acl.selectors import principal_group_ids
from console.selectors.sources import source_document_count
from index_versions.selectors import document_list, index_version_active, version_revisions
from sources.models import Document, Source


def everyone_group_name() -> str:
    return settings.ACL_EVERYONE_GROUP


@dataclass(frozen=True)
class GrantPath:
    """One reason a user may read a source: a grant to them, to a group of theirs, or to everyone."""

    grant: SourceGrant
    kind: str  # "user", "group" or "everyone"

    @property
    def label(self) -> str:
        if self.kind == "user":
            return f"direct grant to {self.grant.user}"
        if self.kind == "everyone":
            return f"the {self.grant.group} group (every active user)"
        return f"group {self.grant.group}"


def user_groups(*, user) -> list[Group]:
    """The groups ``user`` counts as a member of, the implicit everyone group included."""
    return list(Group.objects.filter(pk__in=principal_group_ids(user=user)).order_by("name"))


def user_grant_paths(*, user, source_id: int | None = None) -> list[GrantPath]:
    """Every grant that lets ``user`` read a source (the same grants as :func:`acl.selectors.visible_source_ids`)."""
    if not (user.is_authenticated and user.is_active):
        return []
    grants = SourceGrant.objects.filter(
        Q(user_id=user.pk) | Q(group_id__in=principal_group_ids(user=user))
    ).select_related("source", "user", "group")
    if source_id is not None:
        grants = grants.filter(source_id=source_id)
    everyone = everyone_group_name()

    def kind(grant):
        if grant.user_id is not None:
            return "user"
        return "everyone" if everyone and grant.group.name == everyone else "group"

    return [GrantPath(grant, kind(grant)) for grant in grants.order_by("source__name", "user_id", "group__name")]


def user_principal_names(*, user) -> set[str]:
    """The names matching ``user`` in a document's access list: Python's copy of the SQL in
    :func:`acl.selectors._principal_names` (username, email, groups, bare and prefixed)."""
    email = user.email.lower()
    names = {user.username, f"user:{user.username}", email, f"user:{email}"}
    for group in user_groups(user=user):
        names.update({group.name, f"group:{group.name}"})
    return names


@dataclass
class AccessDecision:
    """The answer to "may this user read this document", with the reasons an operator can check."""

    allowed: bool
    verdict: str
    reasons: list[str] = field(default_factory=list)
    paths: list[GrantPath] = field(default_factory=list)
    access_list: list[str] | None = None  # the document's own list, if it has one
    matched: list[str] = field(default_factory=list)  # the entries of that list naming the user


def access_explain(*, user, document: Document) -> AccessDecision:
    """Why ``user`` may or may not read ``document`` in search: the rule of :func:`acl.selectors.visibility_condition`.

    Grant first (to the user, a group of theirs, or everyone), then the document's
    own access list, and, as for every read, only documents of the active version.
    Tests hold this to :func:`index_versions.selectors.document_list`'s verdict.
    """
    source = document.source
    if not user.is_active:
        return AccessDecision(False, f"No access: {user} is inactive, and inactive accounts read nothing.")
    active = index_version_active()
    if active is None:
        return AccessDecision(False, "No access: no index version is active, so search returns nothing.")
    if document.pk not in version_revisions(active, source_id=source.pk):
        return AccessDecision(
            False,
            f"No access: the document is not in the active index version {active.pk} "
            "(not synced yet, deleted at the source, or purged).",
        )
    decision = AccessDecision(False, "", paths=user_grant_paths(user=user, source_id=source.pk))
    groups = ", ".join(group.name for group in user_groups(user=user)) or "none"
    if not decision.paths:
        decision.verdict = f"No grant: neither {user} nor any of their groups ({groups}) may read {source}."
        return decision
    via = "; ".join(path.label for path in decision.paths)
    decision.reasons.append(f"{source} is granted via {via}.")
    access_list = DocumentAccessList.objects.filter(document=document).values_list("principals", flat=True).first()
    if access_list is None:
        decision.allowed = True
        decision.verdict = f"Granted via {decision.paths[0].label}; the document has no access list of its own."
        return decision
    decision.access_list = list(access_list)
    decision.matched = sorted(set(access_list) & user_principal_names(user=user))
    if decision.matched:
        decision.allowed = True
        decision.verdict = (
            f"Granted via {decision.paths[0].label}, and the document's access list names them "
            f"({', '.join(decision.matched)})."
        )
        return decision
    listed = ", ".join(access_list) if access_list else "nobody"
    decision.verdict = (
        f"Hidden by the document's access list: it names {listed}, "
        f"and neither {user}, their email nor their groups ({groups}) is among them."
    )
    return decision


@dataclass
class SourceReaders:
    source: Source
    grants: list[SourceGrant]
    documents: int | None  # in the active version
    with_access_list: int  # documents carrying their own access list

    @property
    def public(self) -> bool:
        everyone = everyone_group_name()
        return bool(everyone) and any(g.group_id and g.group.name == everyone for g in self.grants)


def source_readers_list() -> list[SourceReaders]:
    """Per source: the grants (users, groups with their member counts, everyone) and access-listed documents."""
    grants: dict[int, list[SourceGrant]] = {}
    for grant in (
        SourceGrant.objects.select_related("user", "group")
        .annotate(members=Count("group__user", distinct=True))
        .order_by("group__name", "user__username")
    ):
        grants.setdefault(grant.source_id, []).append(grant)
    listed = dict(
        DocumentAccessList.objects.filter(document__purged_at__isnull=True)
        .values("document__source_id")
        .annotate(n=Count("pk"))
        .values_list("document__source_id", "n")
    )
    active = index_version_active()
    return [
        SourceReaders(
            source=source,
            grants=grants.get(source.pk, []),
            documents=source_document_count(source.pk, version=active),
            with_access_list=listed.get(source.pk, 0),
        )
        for source in Source.objects.all()
    ]


@dataclass
class SourceAccess:
    source: Source
    paths: list[GrantPath]
    readable: int  # documents of the active version the user may read
    documents: int | None  # documents of the active version

    @property
    def hidden(self) -> int:
        return max((self.documents or 0) - self.readable, 0)


def user_effective_access(*, user) -> list[SourceAccess]:
    """Every source ``user`` can read, through which grants, and how many of its documents they see."""
    paths: dict[int, list[GrantPath]] = {}
    for path in user_grant_paths(user=user):
        paths.setdefault(path.grant.source_id, []).append(path)
    active = index_version_active()
    return [
        SourceAccess(
            source=source,
            paths=paths[source.pk],
            readable=document_list(user=user, source_id=source.pk).count(),
            documents=source_document_count(source.pk, version=active),
        )
        for source in Source.objects.filter(pk__in=list(paths))
    ]


def active_users_count() -> int:
    return get_user_model().objects.filter(is_active=True).count()
