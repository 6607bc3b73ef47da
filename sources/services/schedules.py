"""Pausing and resuming a source's scheduled syncs (syncs on request always run)."""

from django.db import transaction
from django.utils import timezone

from acl.models import AuditEvent
from acl.services import audit_record
from sources.models import Source


@transaction.atomic
def source_schedule_pause(*, source: Source, actor=None, reason: str = "") -> Source:
    """Pause the source's scheduled syncs until resumed (syncs on request still run)."""
    reason = (reason or f"paused by {actor or 'an operator'}")[:200]
    Source.objects.filter(pk=source.pk, sync_paused_at__isnull=True).update(
        sync_paused_at=timezone.now(), sync_paused_reason=reason
    )
    audit_record(actor=actor, action=AuditEvent.Action.SCHEDULE_PAUSE, target=f"source:{source.pk}")
    source.refresh_from_db()
    return source


@transaction.atomic
def source_schedule_resume(*, source: Source, actor=None) -> Source:
    """Lift a pause left by a rollback or revert; the next scheduled sync then runs as usual."""
    Source.objects.filter(pk=source.pk).update(sync_paused_at=None, sync_paused_reason="")
    audit_record(actor=actor, action=AuditEvent.Action.SCHEDULE_RESUME, target=f"source:{source.pk}")
    source.refresh_from_db()
    return source
