"""Reads of the console's pages: health, per-source status, undo plans, and who may read what and why.

The console is the top layer: these read through the apps' public selectors
(:mod:`index_versions.selectors`, :mod:`acl.selectors`), never the membership
table itself, so the pages keep working when a version's storage changes.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import JSONObject
from django.utils import timezone

from acl.models import DocumentAccessList, SourceGrant
from acl.selectors import principal_group_ids
from index_versions.models import Activation, IndexVersion
from index_versions.selectors import document_list, index_version_active, index_version_diff, version_revisions
from ragplatform.celery import app as celery_app
from retrieval.models import VersionEvaluation
from sources.models import Document, Source, SyncJob

# --- health -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceCheck:
    name: str
    ok: bool
    detail: str


def database_check() -> ServiceCheck:
    """One round trip to PostgreSQL, with the server's version to show it is the real one."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
    except Exception as exc:  # noqa: BLE001 - a health check reports, never raises
        return ServiceCheck("Database", False, f"unreachable: {type(exc).__name__}")
    return ServiceCheck("Database", True, f"PostgreSQL {version}")


def broker_check(*, timeout: float = 2.0) -> ServiceCheck:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        return ServiceCheck("Broker", False, f"unreachable: {type(exc).__name__}")
    return ServiceCheck("Broker", True, "Redis reachable")


def expected_queues() -> list[str]:
    """The queues tasks are routed to: each needs at least one live worker."""
    queues = {settings.CELERY_TASK_DEFAULT_QUEUE}
    queues.update(route["queue"] for route in settings.CELERY_TASK_ROUTES.values() if "queue" in route)
    return sorted(queues)


@dataclass(frozen=True)
class QueueWorkers:
    queue: str
    workers: list[str]


def workers_by_queue(*, timeout: float = 1.0) -> list[QueueWorkers] | None:
    """Live workers per queue, as the workers themselves answer over the broker; ``None`` if it cannot be asked.

    A broadcast ``active_queues`` waits ``timeout`` for replies: a worker that does
    not answer in time counts as absent, which is what an operator needs to know.
    """
    try:
        replies = celery_app.control.inspect(timeout=timeout).active_queues() or {}
    except Exception:  # noqa: BLE001 - the broker is down: the broker check says so
        return None
    consumers: dict[str, list[str]] = {queue: [] for queue in expected_queues()}
    for hostname, queues in sorted(replies.items()):
        for queue in queues or []:
            consumers.setdefault(queue["name"], []).append(hostname)
    return [QueueWorkers(queue, workers) for queue, workers in sorted(consumers.items())]


# --- versions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveVersion:
    version: IndexVersion
    activation: Activation | None  # the switch that made it active: when, by whom, why

    @property
    def reason(self) -> str:
        return activation_reason_label(self.activation.reason, self.version) if self.activation else ""


def active_version_summary() -> ActiveVersion | None:
    version = index_version_active()
    if version is None:
        return None
    activation = (
        Activation.objects.filter(to_version=version).select_related("actor").order_by("-created_at", "-id").first()
    )
    return ActiveVersion(version=version, activation=activation)


_EVALUATION_FIELDS = ("metric", "score", "baseline_id", "baseline_score", "tolerance", "passed", "reason")


def latest_evaluation_subquery():
    """The latest evaluation-gate result of the outer version, as one JSON object (a subquery to annotate)."""
    return (
        VersionEvaluation.objects.filter(version=OuterRef("pk"))
        .order_by("-id")
        .values(data=JSONObject(**{name: name for name in _EVALUATION_FIELDS}))[:1]
    )


def evaluation_summary(version) -> str:
    """The latest gate result, e.g. "held by the evaluation gate: nDCG@10 0.610 < 0.660 - 0.02 (version 11)".

    Reads ``version.latest_evaluation`` when the queryset annotated it
    (:func:`latest_evaluation_subquery`), else one query.
    """
    data = getattr(version, "latest_evaluation", None)
    if not hasattr(version, "latest_evaluation"):
        latest = VersionEvaluation.objects.filter(version=version).order_by("-id").first()
        data = latest and {name: getattr(latest, name) for name in _EVALUATION_FIELDS}
    if not data:
        return ""
    evaluation = VersionEvaluation(**data)
    verdict = evaluation.verdict()
    if not evaluation.passed and version.state == IndexVersion.State.READY:
        return "held by the evaluation gate: " + verdict.removeprefix("failed: ")
    return verdict


def activation_reason_label(reason: str, version: IndexVersion) -> str:
    """Why a version became active, in words: its sync, a revert (named by the version's note), or by hand."""
    if reason == "sync":
        return "activated by its sync"
    if reason.startswith("revert of source"):
        return f"activated by a revert ({version.note})" if version.note else "activated by a revert"
    if reason in ("console", "admin", "manual"):
        return "activated by hand (a rollback or roll-forward)"
    return reason


def versions_held_by_gate() -> list[IndexVersion]:
    """Ready versions whose latest evaluation-gate result failed: built, but not activated."""
    latest_passed = VersionEvaluation.objects.filter(version=OuterRef("pk")).order_by("-id").values("passed")[:1]
    return list(
        IndexVersion.objects.filter(state=IndexVersion.State.READY)
        .annotate(latest_passed=Subquery(latest_passed))
        .filter(latest_passed=False)
        .select_related("trigger_source")
    )


# --- sources ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NextRun:
    at: datetime | None
    label: str


def source_next_run(source: Source, *, now: datetime | None = None) -> NextRun:
    """When beat will sync ``source`` next, in the terms of :func:`sources.selectors.sources_due_for_sync`."""
    now = now or timezone.now()
    if not source.enabled:
        return NextRun(None, "disabled")
    if not source.sync_interval_minutes:
        return NextRun(None, "on request only")
    if source.sync_paused:
        return NextRun(None, "paused")
    if source.last_synced_at is None:
        return NextRun(now, "due now")
    due = source.last_synced_at + timedelta(minutes=source.sync_interval_minutes)
    return NextRun(due, "due now" if due <= now else "")


def source_document_count(source_id: int, *, version: IndexVersion | None) -> int | None:
    """Documents of the source in ``version`` (``None`` without a version)."""
    if version is None:
        return None
    return len(version_revisions(version, source_id=source_id))


@dataclass
class SourceStatus:
    source: Source
    last_job: SyncJob | None  # the latest finished sync
    running_job: SyncJob | None
    documents: int | None  # in the active version
    next_run: NextRun

    @property
    def failing(self) -> list[dict]:
        """``[{document, reason}]``: what the latest finished sync could not read."""
        return list(self.last_job.errors) if self.last_job else []


def latest_finished_jobs(source_ids=None) -> dict[int, SyncJob]:
    """The newest finished sync job of each source, one query (``DISTINCT ON``)."""
    jobs = SyncJob.objects.exclude(status__in=SyncJob.IN_FLIGHT)
    if source_ids is not None:
        jobs = jobs.filter(source_id__in=source_ids)
    jobs = jobs.order_by("source_id", "-created_at", "-id").distinct("source_id")
    return {job.source_id: job for job in jobs}


def running_jobs(source_ids=None) -> dict[int, SyncJob]:
    jobs = SyncJob.objects.filter(status__in=SyncJob.IN_FLIGHT)
    if source_ids is not None:
        jobs = jobs.filter(source_id__in=source_ids)
    return {job.source_id: job for job in jobs}


def source_statuses(sources=None) -> list[SourceStatus]:
    sources = list(Source.objects.all() if sources is None else sources)
    ids = [source.pk for source in sources]
    finished, running = latest_finished_jobs(ids), running_jobs(ids)
    active = index_version_active()
    now = timezone.now()
    return [
        SourceStatus(
            source=source,
            last_job=finished.get(source.pk),
            running_job=running.get(source.pk),
            documents=source_document_count(source.pk, version=active),
            next_run=source_next_run(source, now=now),
        )
        for source in sources
    ]


def stale_sync_jobs() -> list[SyncJob]:
    """Jobs in flight with no heartbeat for ``SYNC_STALE_AFTER_SECONDS``: their worker likely died."""
    cutoff = timezone.now() - timedelta(seconds=settings.SYNC_STALE_AFTER_SECONDS)
    return list(
        SyncJob.objects.filter(status__in=SyncJob.IN_FLIGHT)
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
        .select_related("source")
    )


@dataclass(frozen=True)
class SyncProgress:
    done: int
    total: int | None  # unknown until the source has been listed
    percent: int | None
    phase: str  # the phase's label while in flight; "finished" after
    rate: float | None  # documents per second so far
    eta_seconds: float | None


def sync_job_progress(job: SyncJob, *, now: datetime | None = None) -> SyncProgress:
    """Done/total, phase, rate and time left of a sync job, from its counters and timestamps."""
    now = now or timezone.now()
    total, done = job.progress_total, job.progress_done
    percent = None
    if total:
        percent = min(100, int(done * 100 / total))
    elif total == 0:
        percent = 100 if job.is_finished else 0
    if job.status in (SyncJob.Status.SUCCEEDED, SyncJob.Status.PARTIAL):
        percent = 100
    elapsed = ((job.finished_at or now) - job.started_at).total_seconds() if job.started_at else 0
    rate = done / elapsed if done and elapsed > 0 else None
    eta = None
    if not job.is_finished and rate and total is not None:
        eta = max(total - done, 0) / rate
    return SyncProgress(
        done=done,
        total=total,
        percent=percent,
        phase=job.get_phase_display() if not job.is_finished else "finished",
        rate=rate,
        eta_seconds=eta,
    )


def sync_job_history(*, source: Source, limit: int = 20) -> list[SyncJob]:
    return list(SyncJob.objects.filter(source=source).select_related("index_version", "requested_by")[:limit])


# --- undo the last sync of one source ------------------------------------------------------------


@dataclass
class UndoPlan:
    """What "Undo last sync" of one source would do, or why it cannot."""

    source: Source
    job: SyncJob | None = None  # the last sync that produced a version
    restore: IndexVersion | None = None  # the parent of that version: the source as it was before
    active: IndexVersion | None = None
    problem: str = ""
    added: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    changed: list[dict] = field(default_factory=list)

    @property
    def possible(self) -> bool:
        return not self.problem


def source_undo_plan(*, source: Source, user) -> UndoPlan:
    """The version to restore ``source`` from and the diff against the active version, restricted to it.

    The restore point is the parent of the version the source's last successful sync
    produced: the index as it was just before that sync.
    """
    plan = UndoPlan(source=source, active=index_version_active())
    plan.job = (
        SyncJob.objects.filter(
            source=source,
            status__in=[SyncJob.Status.SUCCEEDED, SyncJob.Status.PARTIAL],
            index_version__isnull=False,
        )
        .select_related("index_version__parent")
        .order_by("-created_at", "-id")
        .first()
    )
    if plan.job is None:
        plan.problem = "No sync of this source has produced an index version yet."
        return plan
    plan.restore = plan.job.index_version.parent
    if plan.restore is None:
        plan.problem = (
            f"Sync #{plan.job.pk} built the first index version, or the version before it was deleted by retention: "
            "there is nothing to restore from."
        )
        return plan
    if plan.restore.state not in (IndexVersion.State.READY, IndexVersion.State.ACTIVE, IndexVersion.State.RETIRED):
        plan.problem = f"Version {plan.restore.pk}, from before sync #{plan.job.pk}, is {plan.restore.state}."
        return plan
    if plan.active is None:
        plan.problem = "No index version is active."
        return plan
    key = str(source.pk)
    if plan.active.source_fingerprints.get(key) == plan.restore.source_fingerprints.get(key):
        plan.problem = f"The source is already as it was before sync #{plan.job.pk}: nothing to undo."
        return plan
    diff = index_version_diff(version=plan.restore, against=plan.active, user=user)
    plan.added = [entry for entry in diff.added if entry["source_id"] == source.pk]
    plan.removed = [entry for entry in diff.removed if entry["source_id"] == source.pk]
    plan.changed = [entry for entry in diff.changed if entry["source_id"] == source.pk]
    return plan


# --- who may read what, and why ----------------------------------------------------------------


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
