"""The one visibility filter. Every read path that returns content goes through it.

``visible_source_ids`` is the single definition of "which sources may this user
read"; ORM reads use it as a subquery, and raw SQL (vector search) embeds the very
same query via :func:`visibility_condition`, so the rule cannot drift between them.
Staff and superuser status grant nothing here: access comes from grants only.
"""

from django.contrib.auth.models import Group
from django.db.models import Q, QuerySet

from acl.models import SourceGrant


def visible_source_ids(*, user) -> QuerySet:
    """Ids of the sources ``user`` holds a grant for, directly or through a group."""
    if user is None or not user.is_authenticated or not user.is_active:
        return SourceGrant.objects.none().values("source_id")
    return SourceGrant.objects.filter(
        Q(user_id=user.pk) | Q(group_id__in=Group.objects.filter(user__id=user.pk).values("pk"))
    ).values("source_id")


def visibility_condition(*, user, source_column: str) -> tuple[str, tuple]:
    """SQL ``<source_column> IN (...)`` with its params, for queries written in SQL."""
    queryset = visible_source_ids(user=user)
    if queryset.query.is_empty():
        return "FALSE", ()
    sql, params = queryset.query.sql_with_params()
    return f"{source_column} IN ({sql})", tuple(params)


def grant_list(*, user) -> QuerySet[SourceGrant]:
    """Staff see every grant; anyone else the grants that apply to them."""
    grants = SourceGrant.objects.select_related("source", "user", "group")
    if user.is_staff:
        return grants
    return grants.filter(Q(user_id=user.pk) | Q(group__user__id=user.pk)).distinct()
