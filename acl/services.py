"""Writes on access control: grants and the audit trail."""

from django.db import IntegrityError, transaction
from rest_framework import status

from acl.models import AuditEvent, SourceGrant
from ragplatform.errors import ApplicationError


def audit_record(*, actor, action: str, target: str = "", details: dict | None = None) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target=target[:200],
        details=details or {},
    )


@transaction.atomic
def grant_create(*, source, user=None, group=None, actor=None) -> SourceGrant:
    if (user is None) == (group is None):
        raise ApplicationError(
            "Give exactly one of user or group.", details={"non_field_errors": ["exactly one of user or group"]}
        )
    try:
        with transaction.atomic():  # the partial unique indexes decide, also between concurrent requests
            grant = SourceGrant.objects.create(source=source, user=user, group=group, created_by=actor)
    except IntegrityError:
        existing = SourceGrant.objects.get(source=source, user=user, group=group)
        raise ApplicationError(
            "This grant exists already.",
            code="duplicate",
            details={"id": existing.pk},
            status_code=status.HTTP_409_CONFLICT,
        ) from None
    audit_record(
        actor=actor,
        action="grant.create",
        target=f"source:{source.pk}",
        details={"grant": grant.pk, "user": user and user.pk, "group": group and group.pk},
    )
    return grant


@transaction.atomic
def grant_delete(*, grant: SourceGrant, actor=None) -> None:
    audit_record(
        actor=actor,
        action="grant.delete",
        target=f"source:{grant.source_id}",
        details={"grant": grant.pk, "user": grant.user_id, "group": grant.group_id},
    )
    grant.delete()
