"""The one visibility filter. Every read path that returns content goes through it.

:func:`visibility_condition` is the single definition of "may this user read the
document D of source S": the user (or a group they are in, the everyone group
included) holds a grant on S, and D either has no access list from its source
system or names the user, their email or one of their groups. Raw SQL (the vector
search) embeds it directly; ORM reads filter with :class:`VisibleTo`, which
compiles to the very same SQL, so the rule cannot drift between them.

Nothing here is cached or versioned: grants, memberships and access lists are
read inside the query itself, so a change applies to the next query, in every
index version (only the SQL text, which names the user and nothing they hold, is
compiled once per user). Staff and superuser status grant nothing here.
"""

import functools
import hmac
from types import MappingProxyType

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import BooleanField, Expression, F, Q, QuerySet

from acl.keys import api_key_hash, api_key_split
from acl.models import ApiKey, AuditEvent, DocumentAccessList, ServiceAccount, SourceGrant
from ragplatform.sql import Sql, compose, orm_fragment

_ACCESS_LISTS = DocumentAccessList._meta.db_table


def _may_read_anything(user) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def staff_may(user, *permissions: str) -> bool:
    """``user`` is active staff holding every one of ``permissions`` (a superuser holds them all).

    What staff may manage; never what they may read in search, which no permission changes.
    """
    return bool(
        user is not None and user.is_authenticated and user.is_active and user.is_staff and user.has_perms(permissions)
    )


def principal_group_ids(*, user) -> QuerySet:
    """Ids of the groups ``user`` is in; every active user is in the everyone group (``ACL_EVERYONE_GROUP``)."""
    if not _may_read_anything(user):
        return Group.objects.none().values("pk")
    return _group_ids_of(user.pk, settings.ACL_EVERYONE_GROUP)


def _group_ids_of(user_pk: int, everyone_group: str) -> QuerySet:
    memberships = get_user_model().groups.through.objects.filter(user_id=user_pk).values("group_id")
    in_group = Q(pk__in=memberships)
    if everyone_group:
        in_group |= Q(name=everyone_group)
    return Group.objects.filter(in_group).values("pk")


def visible_source_ids(*, user) -> QuerySet:
    """Ids of the sources ``user`` holds a grant for, directly or through a group.

    Source level only: documents with an access list need :func:`visibility_condition`.
    """
    if not _may_read_anything(user):
        return SourceGrant.objects.none().values("source_id")
    return _source_ids_of(user.pk, settings.ACL_EVERYONE_GROUP)


def _source_ids_of(user_pk: int, everyone_group: str) -> QuerySet:
    groups = _group_ids_of(user_pk, everyone_group)
    return SourceGrant.objects.filter(Q(user_id=user_pk) | Q(group_id__in=groups)).values("source_id")


def _compiled_per_user(build):
    """Cache ``build(user_pk, everyone_group)``'s SQL: the ORM takes milliseconds a search to compile it.

    Keyed by everything the text depends on (the user's id and the everyone group's name); what
    the user holds is read when the statement runs, never here. The parameters of a cached
    fragment are read-only, as it is shared by every statement of that user.
    """

    @functools.lru_cache(maxsize=4096)
    def cached(user_pk: int, everyone_group: str) -> Sql:
        fragment = build(user_pk, everyone_group)
        return Sql(fragment.text, MappingProxyType(dict(fragment.params)))

    return cached


@_compiled_per_user
def _granted_sources_sql(user_pk: int, everyone_group: str) -> Sql:
    return orm_fragment(_source_ids_of(user_pk, everyone_group), prefix="acl_source")


def _principal_names(user) -> Sql:
    """The array of names that identify ``user`` in a source's access list.

    Typed: ``user:`` with the username and with the email (lowercased), ``group:`` with
    each group name. Bare: the username, the email and each group name, except those that
    themselves begin with ``user:`` or ``group:``. A stored principal with such a prefix is
    typed (:func:`acl.services.principal_normalise`) and matches only its kind, so members
    of a group named ``user:alice`` never pass for alice, nor a user named ``group:eng``
    for the group eng. An empty email yields ``''`` and ``'user:'``, which no stored
    principal equals.
    """
    return _principal_names_sql(user.pk, settings.ACL_EVERYONE_GROUP)


@_compiled_per_user
def _principal_names_sql(user_pk: int, everyone_group: str) -> Sql:
    User = get_user_model()
    users, groups_table = User._meta.db_table, Group._meta.db_table
    groups = orm_fragment(_group_ids_of(user_pk, everyone_group), prefix="acl_group")
    return compose(
        f"""ARRAY(
            SELECT bare.name FROM (
                SELECT unnest(ARRAY[u.username, lower(u.email)]) AS name
                FROM {users} u WHERE u.id = %(acl_user)s
                UNION ALL
                SELECT g.name FROM {groups_table} g WHERE g.id IN ({{groups}})
            ) bare
            WHERE lower(bare.name) NOT LIKE 'user:%%' AND lower(bare.name) NOT LIKE 'group:%%'
            UNION ALL
            SELECT unnest(ARRAY['user:' || u.username, 'user:' || lower(u.email)])
            FROM {users} u WHERE u.id = %(acl_user)s
            UNION ALL
            SELECT 'group:' || g.name FROM {groups_table} g WHERE g.id IN ({{groups}})
        )::varchar[]""",
        {"acl_user": user_pk},
        groups=groups,
    )


def visibility_condition(*, user, source_column: str, document_column: str) -> Sql:
    """SQL condition "``user`` may read the document in ``document_column`` of the source in ``source_column``".

    A fragment to AND into a WHERE clause::

        <source_column> = ANY(ARRAY(<sources granted to the user or their groups>))  -- visible_sources_condition
        AND NOT EXISTS (SELECT 1 FROM acl_documentaccesslist dal
                        WHERE dal.document_id = CASE WHEN <source_column> = ANY(<those of them
                                                          holding any access list>)  -- access_listed_sources
                                                     THEN <document_column> END
                          AND NOT dal.indexed_principals && <the user's names>)
        AND NOT EXISTS (<the same for the lists too large for the index, from the table>)

    The subqueries are uncorrelated with the candidate row except for the probes into
    the access lists, so PostgreSQL runs them once per query (init plans). The first
    probe reads the list's principals from the covering index ``access_list_principals``
    alone; a list too large for a B-tree entry has NULL there (``DocumentAccessList.
    indexed_principals``), is not matched by it, and is probed in the table by the
    second, only for a source holding such a list. A list carries its document's source
    (a foreign key on both keeps it so), so a document of a source without lists has
    none: its key is NULL, which descends no index. Written as an ``OR`` instead, the
    anti-join was lost and PostgreSQL hashed every list once per statement
    (``docs/benchmarks.md``).
    The grant is an array test, not ``IN``: a semi-join the planner may reorder, and it
    did, putting the grants first, which broke the keyword leg's impact order and its
    early stop (2.5 s instead of 45 ms at 100,000 chunks). Its parameters are named
    ``acl_*``: spliced into several legs of one statement, they are bound once.
    """
    if not _may_read_anything(user):
        return Sql("FALSE")
    return compose(
        f"""({{granted}}
        AND NOT EXISTS (
            SELECT 1 FROM {_ACCESS_LISTS} dal
            -- NULL (no index descent at all) for a document of a source without lists.
            WHERE dal.document_id = CASE WHEN {source_column} = ANY({{listed}}) THEN {document_column} END
              AND NOT (dal.indexed_principals && {{names}})
        )
        AND NOT EXISTS (
            SELECT 1 FROM {_ACCESS_LISTS} dal
            WHERE dal.document_id = CASE WHEN {source_column} = ANY({{listed_large}}) THEN {document_column} END
              AND dal.indexed_principals IS NULL AND NOT (dal.principals && {{names}})
        ))""",
        granted=visible_sources_condition(user=user, source_column=source_column),
        listed=access_listed_sources(user=user),
        listed_large=_large_listed_sources_sql(user.pk, settings.ACL_EVERYONE_GROUP),
        names=_principal_names(user),
    )


def access_listed_sources(*, user) -> Sql:
    """SQL array of the sources granted to ``user`` that hold at least one document access list.

    Only their documents can have a list; one index probe per granted source, once per statement.
    """
    return _access_listed_sources_sql(user.pk, settings.ACL_EVERYONE_GROUP)


@_compiled_per_user
def _access_listed_sources_sql(user_pk: int, everyone_group: str) -> Sql:
    return _granted_sources_holding_lists(user_pk, everyone_group, "TRUE")


@_compiled_per_user
def _large_listed_sources_sql(user_pk: int, everyone_group: str) -> Sql:
    """The granted sources holding a list too large for the index: a probe of a partial index each."""
    return _granted_sources_holding_lists(user_pk, everyone_group, "l.indexed_principals IS NULL")


def _granted_sources_holding_lists(user_pk: int, everyone_group: str, lists: str) -> Sql:
    """SQL array of the user's granted sources holding at least one access list ``l`` for which ``lists`` holds."""
    return compose(
        f"""ARRAY(
            SELECT granted.source_id FROM ({{granted}}) granted
            WHERE EXISTS (SELECT 1 FROM {_ACCESS_LISTS} l WHERE l.source_id = granted.source_id AND {lists})
        )""",
        granted=_granted_sources_sql(user_pk, everyone_group),
    )


def visible_sources_condition(*, user, source_column: str) -> Sql:
    """The source half of :func:`visibility_condition`: "``user`` holds a grant on the source in ``source_column``".

    For what is kept per source (the keyword leg's statistics) and as a cheap first check
    that the whole condition follows, never alone for content: documents with their own
    access list need the whole condition. The granted sources are listed once per
    statement (an ``ARRAY`` of the uncorrelated subquery), so each row costs an array test.
    """
    if not _may_read_anything(user):
        return Sql("FALSE")
    return compose(
        f"{source_column} = ANY(ARRAY({{sources}}))",
        sources=_granted_sources_sql(user.pk, settings.ACL_EVERYONE_GROUP),
    )


class VisibleTo(Expression):
    """ORM form of :func:`visibility_condition`: ``Document.objects.filter(VisibleTo(user))``.

    ``source`` and ``document`` name the row's source id and document id (any ORM
    path, e.g. ``revision__document__source_id``); the compiled SQL is exactly
    :func:`visibility_condition` over those columns.
    """

    conditional = True
    output_field = BooleanField()

    def __init__(self, user, *, source: str = "source_id", document: str = "id"):
        super().__init__(output_field=BooleanField())
        self.user = user
        self.source = F(source)
        self.document = F(document)

    def get_source_expressions(self):
        return [self.source, self.document]

    def set_source_expressions(self, exprs):
        self.source, self.document = exprs

    def as_sql(self, compiler, connection):
        source_sql, source_params = compiler.compile(self.source)
        document_sql, document_params = compiler.compile(self.document)
        if source_params or document_params:
            raise ValueError("VisibleTo takes column references, not expressions with parameters.")
        return visibility_condition(user=self.user, source_column=source_sql, document_column=document_sql).positional()


# --- administration reads -----------------------------------------------------------------


def grant_list(*, user) -> QuerySet[SourceGrant]:
    """Staff with ``acl.view_sourcegrant`` see every grant; anyone else the grants that apply to them."""
    grants = SourceGrant.objects.select_related("source", "user", "group")
    if staff_may(user, "acl.view_sourcegrant"):
        return grants
    return grants.filter(Q(user_id=user.pk) | Q(group_id__in=principal_group_ids(user=user)))


def group_list(*, user) -> QuerySet[Group]:
    """Staff who may view or change groups see every group; anyone else the groups they are in."""
    if staff_may(user, "auth.view_group") or staff_may(user, "auth.change_group"):
        return Group.objects.order_by("name")
    return Group.objects.filter(pk__in=principal_group_ids(user=user)).order_by("name")


def group_member_list(*, group: Group) -> QuerySet:
    """Internal/staff: explicit members (the everyone group's implicit members are not listed)."""
    return group.user_set.order_by("username")


def service_account_list() -> QuerySet[ServiceAccount]:
    """Internal/staff: service accounts with their keys (prefixes only)."""
    return ServiceAccount.objects.select_related("user").prefetch_related("keys")


def api_key_list(*, service_account: ServiceAccount) -> QuerySet[ApiKey]:
    return service_account.keys.all()


def api_key_check(*, raw_key: str) -> ApiKey | None:
    """The active key ``raw_key`` stands for, or ``None``; compares hashes in constant time."""
    parts = api_key_split(raw_key)
    if parts is None:
        return None
    key = (
        ApiKey.objects.select_related("service_account__user").filter(prefix=parts[0], revoked_at__isnull=True).first()
    )
    if key is None or not hmac.compare_digest(key.key_hash, api_key_hash(raw_key)):
        return None
    return key


def audit_event_list(*, action: str | None = None, actor_id: int | None = None) -> QuerySet[AuditEvent]:
    """Internal/staff: the audit trail, newest first."""
    events = AuditEvent.objects.select_related("actor", "service_account")
    if action:
        events = events.filter(action=action)
    if actor_id is not None:
        events = events.filter(actor_id=actor_id)
    return events
