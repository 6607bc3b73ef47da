"""Versions as the console shows them: the active one and why, gate verdicts, activation reasons."""

from dataclasses import dataclass

from django.db.models import OuterRef, Subquery
from django.db.models.functions import JSONObject

from index_versions.models import Activation, IndexVersion
from index_versions.selectors import index_version_active
from retrieval.models import VersionEvaluation


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
