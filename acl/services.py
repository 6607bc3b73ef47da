"""Writes on access control: grants, groups, document access lists, service accounts, keys, the audit trail."""

import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import IntegrityError, transaction
from django.utils import timezone

from acl.keys import KEY_PREFIX_BYTES, api_key_hash
from acl.models import AUDIT_MAX_RETENTION_DAYS, ApiKey, AuditEvent, DocumentAccessList, ServiceAccount, SourceGrant
from acl.roles import ROLE_PERMISSIONS
from ragplatform.exceptions import Conflict, ErrorCode, InvalidInput

# --- audit ----------------------------------------------------------------------------------


def audit_record(
    *,
    actor,
    action: str,
    target: str = "",
    details: dict | None = None,
    service_account: ServiceAccount | None = None,
    index_version: int | None = None,
    result_count: int | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        service_account=service_account,
        action=action,
        target=target[:200],
        details=details or {},
        index_version=index_version,
        result_count=result_count,
    )


class QueryTextRetention:
    KEEP, REDACT, DROP = "keep", "redact", "drop"


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NUMBER = re.compile(r"\d[\d\s./:-]*\d|\d")


def query_text_retained(text: str) -> str | None:
    """The query text as the ``AUDIT_QUERY_TEXT`` setting says to keep it: as is, redacted, or not at all.

    Redaction masks emails and every run of digits (phone, account, ticket
    numbers); an unknown setting drops the text, the safe side.
    """
    mode = settings.AUDIT_QUERY_TEXT
    if mode == QueryTextRetention.KEEP:
        return text
    if mode == QueryTextRetention.REDACT:
        return _NUMBER.sub("[number]", _EMAIL.sub("[email]", text))
    return None


@transaction.atomic
def audit_purge(*, older_than_days: int | None = None, actor=None) -> int:
    """Delete audit events older than ``older_than_days`` (default ``AUDIT_RETENTION_DAYS``).

    The purge itself is recorded, so the trail shows that and when it was cut.
    """
    days = settings.AUDIT_RETENTION_DAYS if older_than_days is None else older_than_days
    if not 0 <= days <= AUDIT_MAX_RETENTION_DAYS:
        raise InvalidInput(
            f"Retention must be between 0 and {AUDIT_MAX_RETENTION_DAYS} days.",
            details={"older_than_days": [f"must be between 0 and {AUDIT_MAX_RETENTION_DAYS}"]},
        )
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = AuditEvent.objects.filter(created_at__lt=cutoff).delete()
    audit_record(
        actor=actor,
        action=AuditEvent.Action.PURGE,
        details={"older_than_days": days, "cutoff": cutoff.isoformat(), "deleted": deleted},
        result_count=deleted,
    )
    return deleted


# --- grants ---------------------------------------------------------------------------------


@transaction.atomic
def grant_create(*, source, user=None, group=None, actor=None, service_account=None) -> SourceGrant:
    if (user is None) == (group is None):
        raise InvalidInput(
            "Give exactly one of user or group.", details={"non_field_errors": ["exactly one of user or group"]}
        )
    try:
        with transaction.atomic():  # the partial unique indexes decide, also between concurrent requests
            grant = SourceGrant.objects.create(source=source, user=user, group=group, created_by=actor)
    except IntegrityError:
        existing = SourceGrant.objects.get(source=source, user=user, group=group)
        raise Conflict(
            "This grant exists already.",
            code=ErrorCode.DUPLICATE,
            details={"id": existing.pk},
        ) from None
    audit_record(
        actor=actor,
        service_account=service_account,
        action=AuditEvent.Action.GRANT_CREATE,
        target=f"source:{source.pk}",
        details={"grant": grant.pk, "user": user and user.pk, "group": group and group.pk},
    )
    return grant


@transaction.atomic
def grant_delete(*, grant: SourceGrant, actor=None, service_account=None) -> None:
    audit_record(
        actor=actor,
        service_account=service_account,
        action=AuditEvent.Action.GRANT_DELETE,
        target=f"source:{grant.source_id}",
        details={"grant": grant.pk, "user": grant.user_id, "group": grant.group_id},
    )
    grant.delete()


# --- groups ---------------------------------------------------------------------------------


@transaction.atomic
def group_create(*, name: str, actor=None) -> Group:
    try:
        with transaction.atomic():
            group = Group.objects.create(name=name)
    except IntegrityError:
        existing = Group.objects.get(name=name)
        raise Conflict(
            f"A group named {name!r} already exists.",
            code=ErrorCode.DUPLICATE,
            details={"id": existing.pk},
        ) from None
    audit_record(actor=actor, action=AuditEvent.Action.GROUP_CREATE, target=f"group:{group.pk}", details={"name": name})
    return group


@transaction.atomic
def group_member_add(*, group: Group, user, actor=None) -> None:
    """Add ``user`` to ``group``; effective on the next query (visibility reads membership live)."""
    group.user_set.add(user)
    audit_record(
        actor=actor, action=AuditEvent.Action.MEMBERSHIP_ADD, target=f"group:{group.pk}", details={"user": user.pk}
    )


@transaction.atomic
def group_member_remove(*, group: Group, user, actor=None) -> None:
    group.user_set.remove(user)
    audit_record(
        actor=actor, action=AuditEvent.Action.MEMBERSHIP_REMOVE, target=f"group:{group.pk}", details={"user": user.pk}
    )


@transaction.atomic
def role_groups_ensure() -> dict[str, Group]:
    """The ready-made staff groups (:data:`acl.roles.ROLE_PERMISSIONS`), created or reset to exactly their permissions.

    The data migration creates them; this restores them where they are gone (a flushed
    test database) or were edited by hand.
    """
    groups = {}
    for name, permissions in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = [
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in (permission.split(".") for permission in permissions)
        ]
        group.permissions.set(wanted)
        groups[name] = group
    return groups


# --- document access lists ------------------------------------------------------------------


def principal_normalise(name: str) -> str:
    """How a principal from a source's access list is stored and matched.

    ``user:NAME`` and ``group:NAME`` pin the kind and match only a user (by username or
    email) or only a group; a bare name matches a username, an email or a group name.
    Emails compare case-insensitively, usernames and group names exactly (``Alice`` is
    not ``alice``). Returns ``""`` for nothing.
    """
    name = name.strip()
    kind, sep, rest = name.partition(":")
    if sep and kind.lower() in {"user", "group"}:
        rest = rest.strip()
        if not rest:
            return ""
        return f"{kind.lower()}:{rest.lower() if '@' in rest else rest}"
    return name.lower() if "@" in name else name


def principals_normalised(principals) -> list[str] | None:
    """A source's access list as it is stored: normalised, deduplicated, sorted; ``None`` stays ``None``."""
    if principals is None:
        return None
    return sorted({p for p in (principal_normalise(name) for name in principals) if p})


@transaction.atomic
def document_access_list_set(*, document, principals: list[str] | tuple[str, ...] | None) -> None:
    """Record the source system's access list of ``document``; ``None`` means it has none.

    An empty list means nobody may read the document. The change applies to the
    next query in every index version: lists belong to the document, not to a
    revision, so a rollback cannot bring back an old list.
    """
    document_access_lists_set(source_id=document.source_id, lists={document.pk: principals})


@transaction.atomic
def document_access_lists_set(*, source_id: int, lists: dict[int, list | tuple | None]) -> int:
    """:func:`document_access_list_set` for many documents of one source at once, in four statements.

    Only lists that really change are written and audited (a sync that finds the
    same lists writes nothing). Returns the number of documents whose list changed.
    """
    wanted = {document_id: principals_normalised(principals) for document_id, principals in lists.items()}
    current = dict(
        DocumentAccessList.objects.filter(document_id__in=list(wanted)).values_list("document_id", "principals")
    )
    removed = [d for d, principals in wanted.items() if principals is None and d in current]
    changed = {
        d: principals
        for d, principals in wanted.items()
        if principals is not None and (d not in current or sorted(current[d]) != principals)
    }
    if removed:
        DocumentAccessList.objects.filter(document_id__in=removed).delete()
    if changed:
        DocumentAccessList.objects.bulk_create(
            [
                DocumentAccessList(document_id=d, source_id=source_id, principals=principals)
                for d, principals in changed.items()
            ],
            update_conflicts=True,
            unique_fields=["document"],
            update_fields=["principals", "updated_at"],
        )
    events = [(d, None) for d in removed] + list(changed.items())
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                action=AuditEvent.Action.ACCESS_LIST_SET,
                target=f"document:{d}",
                details={"source": source_id, "principals": principals},
            )
            for d, principals in events
        ]
    )
    return len(events)


# --- service accounts and keys ----------------------------------------------------------------


@transaction.atomic
def service_account_create(*, name: str, may_act_on_behalf: bool = False, actor=None) -> ServiceAccount:
    User = get_user_model()
    if ServiceAccount.objects.filter(name=name).exists() or User.objects.filter(username=f"svc-{name}").exists():
        raise Conflict(
            f"A service account named {name!r} already exists.",
            code=ErrorCode.DUPLICATE,
            details={"name": ["already exists"]},
        )
    user = User(username=f"svc-{name}", is_staff=False, is_superuser=False)
    user.set_unusable_password()  # it authenticates with keys only
    try:
        with transaction.atomic():
            user.save()
            account = ServiceAccount.objects.create(
                name=name, user=user, may_act_on_behalf=may_act_on_behalf, created_by=actor
            )
    except IntegrityError:
        raise Conflict(
            f"A service account named {name!r} already exists.",
            code=ErrorCode.DUPLICATE,
            details={"name": ["already exists"]},
        ) from None
    audit_record(
        actor=actor,
        action=AuditEvent.Action.SERVICE_ACCOUNT_CREATE,
        target=f"service_account:{account.pk}",
        details={"name": name, "may_act_on_behalf": may_act_on_behalf},
    )
    return account


def _api_key_new(*, service_account: ServiceAccount, actor) -> tuple[ApiKey, str]:
    prefix = secrets.token_hex(KEY_PREFIX_BYTES)
    raw_key = f"rag_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        service_account=service_account, prefix=prefix, key_hash=api_key_hash(raw_key), created_by=actor
    )
    return key, raw_key


@transaction.atomic
def api_key_create(*, service_account: ServiceAccount, actor=None) -> tuple[ApiKey, str]:
    """A new key for ``service_account``; returns it with the raw key, which is never shown again."""
    key, raw_key = _api_key_new(service_account=service_account, actor=actor)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.KEY_CREATE,
        target=f"service_account:{service_account.pk}",
        details={"key": key.pk, "prefix": key.prefix},
    )
    return key, raw_key


@transaction.atomic
def api_key_rotate(*, key: ApiKey, actor=None) -> tuple[ApiKey, str]:
    """Revoke ``key`` and issue its replacement, in one step."""
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is not None:
        raise Conflict("This key is revoked; create a new one instead.", code=ErrorCode.REVOKED)
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    new_key, raw_key = _api_key_new(service_account=key.service_account, actor=actor)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.KEY_ROTATE,
        target=f"service_account:{key.service_account_id}",
        details={"key": new_key.pk, "prefix": new_key.prefix, "replaces": key.pk},
    )
    return new_key, raw_key


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor=None) -> ApiKey:
    """Revoke ``key``: the next request with it is refused. Revoking twice changes nothing."""
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action=AuditEvent.Action.KEY_REVOKE,
            target=f"service_account:{key.service_account_id}",
            details={"key": key.pk, "prefix": key.prefix},
        )
    return key
