"""Activation: which version searches read. A switch of two rows, never a copy."""

import logging

from django.db import transaction
from django.utils import timezone

from acl.models import AuditEvent
from acl.services import audit_record
from index_versions.models import Activation, IndexVersion
from index_versions.services.locking import versions_lock
from ragplatform.exceptions import Conflict, ErrorCode
from sources.models import Source

logger = logging.getLogger(__name__)


@transaction.atomic
def index_version_activate(*, version: IndexVersion, actor=None, reason: str = "manual") -> IndexVersion:
    """Make ``version`` the one searched: a single-row state switch, no data copied.

    Queries running meanwhile read the old version to their end (they resolved the
    version id first and versions never change), later ones read the new one. An
    activation that is not a sync's own (a rollback, a roll-forward, a revert)
    pauses the scheduled syncs of every source whose content differs between the
    two versions, so the next sync does not silently undo the operator's choice.
    """
    versions_lock()
    version = IndexVersion.objects.select_for_update().select_related("pipeline").get(pk=version.pk)
    if version.state == IndexVersion.State.ACTIVE:
        return version
    if version.state not in IndexVersion.ACTIVATABLE:
        raise Conflict(
            f"Version {version.pk} is {version.state}; only ready or retired versions can be activated.",
            code=ErrorCode.NOT_ACTIVATABLE,
            details={"state": version.state},
        )
    previous = IndexVersion.objects.select_for_update().filter(state=IndexVersion.State.ACTIVE).first()
    if previous is not None:
        previous.state = IndexVersion.State.RETIRED
        previous.save(update_fields=["state"])
    version.state = IndexVersion.State.ACTIVE
    version.activated_at = timezone.now()
    version.save(update_fields=["state", "activated_at"])
    Activation.objects.create(from_version=previous, to_version=version, actor=actor, reason=reason[:200])

    paused = []
    if reason != "sync" and previous is not None:
        paused = _changed_sources(previous, version)
        Source.objects.filter(pk__in=paused, sync_paused_at__isnull=True).update(
            sync_paused_at=version.activated_at,
            sync_paused_reason=f"index version {version.pk} activated ({reason})"[:200],
        )
    audit_record(
        actor=actor,
        action=AuditEvent.Action.ACTIVATE,
        target=f"index_version:{version.pk}",
        details={"from": previous and previous.pk, "reason": reason, "paused_sources": paused},
    )
    logger.info("index version %s activated (was %s) by %s", version.pk, previous and previous.pk, actor)
    return version


def _changed_sources(one: IndexVersion, other: IndexVersion) -> list[int]:
    a, b = one.source_fingerprints, other.source_fingerprints
    return sorted(int(source_id) for source_id in set(a) | set(b) if a.get(source_id) != b.get(source_id))


@transaction.atomic
def index_version_pin(*, version: IndexVersion, pinned: bool = True, actor=None) -> IndexVersion:
    IndexVersion.objects.filter(pk=version.pk).update(pinned=pinned)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.VERSION_PIN if pinned else "index_version.unpin",
        target=f"index_version:{version.pk}",
    )
    version.refresh_from_db()
    return version
