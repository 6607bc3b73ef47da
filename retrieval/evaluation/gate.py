"""The evaluation gate: a sync's new version goes live only if it retrieves no worse than the active one.

The set (``EVALUATION_GATE_SET``) is a JSONL file, one query a line::

    {"query": "how do we deploy?", "relevant_documents": [12, 40], "relevant_uris": ["file:///wiki/deploy.md"]}

Document ids are stable across versions of one installation; URIs are portable
between installations. A line needs at least one of them (lines without any
relevant document, such as a down-rated row of the feedback export, are skipped).
The staff feedback export of kind ``evaluation`` writes such rows.

Both versions are searched as ``EVALUATION_GATE_USER`` through the selector the
search API uses (:func:`retrieval.search.search`), so the ordinary ACL
applies: a document that user may not read is never found and scores nothing.
Each query is embedded once (:func:`gate_prepare`, outside the version lock) and
its vector used for both versions. The score is the mean nDCG@10 over the set's
queries (a document ranks by its best chunk, binary relevance); the version
passes if ``score >= active score - EVALUATION_GATE_TOLERANCE``.

Nothing here ever makes a sync fail: a missing or malformed set, an unknown or
inactive gate user, or an unknown mode is recorded as an unevaluated (not
passed) :class:`~retrieval.models.VersionEvaluation` with the reason, and the
sync holds its version. Manual activation is never gated.
"""

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import QuerySet

from acl.models import AuditEvent
from acl.services import audit_record
from index_versions import embedding
from index_versions.models import IndexVersion
from index_versions.selectors import index_version_active
from ragplatform.exceptions import Conflict, ErrorCode
from retrieval.evaluation.metrics import ndcg_at
from retrieval.models import VersionEvaluation
from retrieval.search import SearchMode, search
from sources.models import Document

logger = logging.getLogger(__name__)

METRIC = "nDCG@10"
_CUTOFF = 10
# Chunks fetched per query: enough distinct documents for the top 10 when documents have several chunks.
_DEPTH = 50
EVALUABLE = (IndexVersion.State.READY, IndexVersion.State.ACTIVE, IndexVersion.State.RETIRED)


class EvaluationSetError(Exception):
    """The set cannot be used; the message says where and what to fix."""


@dataclass(frozen=True)
class GateQuery:
    text: str
    documents: frozenset[int]
    uris: frozenset[str]


@dataclass(frozen=True)
class EvaluationSet:
    path: str
    sha256: str
    queries: tuple[GateQuery, ...]


@dataclass
class Gate:
    """The configured gate with everything that can be prepared outside the version lock.

    ``error`` is non-empty when the set or the user cannot be used; versions are then
    recorded as not evaluated.
    """

    set_path: str
    username: str
    tolerance: float
    mode: str
    evaluation_set: EvaluationSet | None = None
    user: object = None
    error: str = ""
    # (embedding model, query text) -> normalised vector: each query is embedded once per model.
    vectors: dict = field(default_factory=dict)


# --- the set ---------------------------------------------------------------------------------


def evaluation_set_read(*, path: str) -> EvaluationSet:
    """The set at ``path``; raises :class:`EvaluationSetError` naming the line at fault."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise EvaluationSetError(f"cannot read the evaluation set {path}: {exc.strerror or exc}") from None
    queries = []
    for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvaluationSetError(f"{path} line {number}: not JSON ({exc.msg})") from None
        query = _set_query(row, where=f"{path} line {number}")
        if query is not None:
            queries.append(query)
    if not queries:
        raise EvaluationSetError(
            f"{path} holds no query with relevant documents: each line needs "
            '{"query": ..., "relevant_documents": [ids]} and/or "relevant_uris": [...]'
        )
    return EvaluationSet(path=path, sha256=hashlib.sha256(raw).hexdigest(), queries=tuple(queries))


def _set_query(row, *, where: str) -> GateQuery | None:
    if not isinstance(row, dict) or not isinstance(row.get("query"), str) or not row["query"].strip():
        raise EvaluationSetError(f'{where}: expected an object with a non-empty "query" string')
    documents = row.get("relevant_documents") or []
    uris = row.get("relevant_uris") or []
    if not isinstance(documents, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in documents):
        raise EvaluationSetError(f'{where}: "relevant_documents" must be a list of document ids')
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise EvaluationSetError(f'{where}: "relevant_uris" must be a list of strings')
    if not documents and not uris:
        return None  # nothing judged relevant (e.g. a down-rated export row): it cannot be scored
    return GateQuery(text=row["query"], documents=frozenset(documents), uris=frozenset(uris))


# --- configuration -----------------------------------------------------------------------------


def gate_prepare(*, models=()) -> Gate | None:
    """The configured gate (``None`` when ``EVALUATION_GATE_SET`` is empty), set read, queries embedded.

    Embeds the set's queries for each embedding model in ``models``; call it before
    taking the version lock, where embedding would hold up other syncs. Never
    raises for a bad set or user: the returned gate carries the error instead.
    """
    path = settings.EVALUATION_GATE_SET
    if not path:
        return None
    gate = Gate(
        set_path=path,
        username=settings.EVALUATION_GATE_USER,
        tolerance=settings.EVALUATION_GATE_TOLERANCE,
        mode=settings.EVALUATION_GATE_MODE or settings.SEARCH_DEFAULT_MODE,
    )
    if gate.mode not in SearchMode.ALL:
        gate.error = f"EVALUATION_GATE_MODE {gate.mode!r} is not a search mode ({', '.join(SearchMode.ALL)})"
        return gate
    try:
        gate.evaluation_set = evaluation_set_read(path=path)
    except EvaluationSetError as exc:
        gate.error = str(exc)
        return gate
    if not gate.username:
        gate.error = "EVALUATION_GATE_USER is not set: name the user whose view of the corpus the set represents"
        return gate
    gate.user = get_user_model().objects.filter(username=gate.username).first()
    if gate.user is None or not gate.user.is_active:
        state = "does not exist" if gate.user is None else "is not active"
        gate.error = f"EVALUATION_GATE_USER {gate.username!r} {state}"
        return gate
    for model in dict.fromkeys(models):
        _vectors_ensure(gate, model=model)
    return gate


def _vectors_ensure(gate: Gate, *, model: str) -> None:
    if gate.mode == SearchMode.KEYWORD:
        return  # no vector leg
    missing = list(dict.fromkeys(q.text for q in gate.evaluation_set.queries if (model, q.text) not in gate.vectors))
    for text, vector in zip(missing, embedding.embed_texts(missing, model=model), strict=True):
        gate.vectors[(model, text)] = vector


# --- scoring -----------------------------------------------------------------------------------


def version_score(*, version: IndexVersion, gate: Gate) -> float:
    """Mean nDCG@10 of ``version`` over the gate's set, searched as the gate user (the ACL applies).

    A relevant document is matched by id, or by URI; one that has both an id and
    its own URI listed counts once.
    """
    _vectors_ensure(gate, model=version.pipeline.embedding_model)
    queries = gate.evaluation_set.queries
    uri_of = dict(Document.objects.filter(pk__in={d for q in queries for d in q.documents}).values_list("pk", "uri"))
    total = 0.0
    for query in queries:
        relevant = {f"d:{d}": 1 for d in query.documents}
        covered = {uri_of.get(d) for d in query.documents}
        relevant.update({f"u:{u}": 1 for u in query.uris if u not in covered})
        total += ndcg_at(_ranked(version=version, gate=gate, query=query), relevant, _CUTOFF)
    return total / len(queries)


def _ranked(*, version: IndexVersion, gate: Gate, query: GateQuery) -> list[str]:
    """Keys of the documents found, best first: ``d:<id>``, or ``u:<uri>`` where the set names the URI."""
    vector = gate.vectors.get((version.pipeline.embedding_model, query.text))
    hits = search(
        user=gate.user, query=query.text, k=_DEPTH, mode=gate.mode, version=version, query_vector=vector
    ).results
    ranked, seen = [], set()
    for hit in hits:
        if hit.document_id in query.documents:
            key = f"d:{hit.document_id}"
        elif hit.uri in query.uris:
            key = f"u:{hit.uri}"
        else:
            key = f"d:{hit.document_id}"
        if key in seen:  # a second chunk of the document, or another copy of the same URI
            continue
        seen.add(key)
        ranked.append(key)
    return ranked


# --- services ----------------------------------------------------------------------------------


@transaction.atomic
def version_evaluate(
    *, version: IndexVersion, gate: Gate, baseline: IndexVersion | None, trigger: str, actor=None
) -> VersionEvaluation:
    """Score ``version`` (and ``baseline``, live: grants may have changed since) and record the result.

    ``passed``: the score is at least the baseline's minus the tolerance, or there is
    no baseline. A gate that carries an error records it as not evaluated, not passed.
    """
    evaluation = VersionEvaluation(
        version=version,
        trigger=trigger,
        metric=METRIC,
        mode=gate.mode,
        baseline=baseline,
        tolerance=gate.tolerance,
        username=gate.username,
        set_path=gate.set_path[:1024],
        set_sha256=gate.evaluation_set.sha256 if gate.evaluation_set else "",
        created_by=actor if actor is not None and actor.is_authenticated else None,
        passed=False,
    )
    if gate.error:
        evaluation.reason = gate.error[:500]
    else:
        evaluation.query_count = len(gate.evaluation_set.queries)
        try:
            with transaction.atomic():
                evaluation.score = version_score(version=version, gate=gate)
                if baseline is not None:
                    evaluation.baseline_score = version_score(version=baseline, gate=gate)
        except (OperationalError, InterfaceError):
            raise  # transient: the sync step is retried
        except Exception as exc:  # a scoring bug must hold the version, not fail the sync
            logger.exception("evaluation of index version %s failed", version.pk)
            evaluation.score = evaluation.baseline_score = None
            evaluation.reason = f"evaluation failed: {type(exc).__name__}: {exc}"[:500]
        else:
            evaluation.passed = baseline is None or evaluation.score >= evaluation.baseline_score - gate.tolerance
    evaluation.save()
    return evaluation


@transaction.atomic
def version_gate_check(*, version: IndexVersion, gate: Gate, actor=None) -> VersionEvaluation | None:
    """After a sync built ``version``: may it replace the active version? ``None``: nothing to compare with.

    The caller holds the version lock (it runs inside the transaction of
    :func:`index_versions.services.building.index_version_build_for_source`), so the active
    version cannot change before the caller activates or holds ``version``. A
    version that does not pass is audited as held (``index_version.hold``).
    """
    active = index_version_active()
    if active is None or active.pk == version.pk:
        return None
    evaluation = version_evaluate(
        version=version, gate=gate, baseline=active, trigger=VersionEvaluation.Trigger.SYNC, actor=actor
    )
    if not evaluation.passed:
        audit_record(
            actor=actor,
            action=AuditEvent.Action.VERSION_HOLD,
            target=f"index_version:{version.pk}",
            details={
                "active": active.pk,
                "metric": evaluation.metric,
                "score": evaluation.score,
                "active_score": evaluation.baseline_score,
                "tolerance": evaluation.tolerance,
                "reason": evaluation.reason,
                "evaluation": evaluation.pk,
            },
            index_version=version.pk,
        )
    return evaluation


def version_gate_hold_message(*, evaluation: VersionEvaluation) -> str:
    """The sync job's message for a held version: why, and what the operator can do."""
    return (
        f"version {evaluation.version_id} held by the evaluation gate ({evaluation.verdict()}); "
        "it stays ready: activate it by hand to use it"
    )


def version_evaluate_now(*, version: IndexVersion, actor=None) -> VersionEvaluation:
    """Staff: score ``version`` against the active version on the gate's set now. Activates nothing.

    Embeds outside the transaction, like a sync; 409 when the gate is off or the
    version has no content to search (building, failed).
    """
    if version.state not in EVALUABLE:
        raise Conflict(
            f"Version {version.pk} is {version.state}; only ready, active or retired versions can be evaluated.",
            code=ErrorCode.NOT_EVALUABLE,
            details={"state": version.state},
        )
    active = index_version_active()
    baseline = active if active is not None and active.pk != version.pk else None
    models = [version.pipeline.embedding_model] + ([baseline.pipeline.embedding_model] if baseline else [])
    gate = gate_prepare(models=models)
    if gate is None:
        raise Conflict(
            "The evaluation gate is off: set EVALUATION_GATE_SET (and EVALUATION_GATE_USER) to evaluate versions.",
            code=ErrorCode.EVALUATION_GATE_OFF,
        )
    return version_evaluate(
        version=version, gate=gate, baseline=baseline, trigger=VersionEvaluation.Trigger.MANUAL, actor=actor
    )


# --- selectors (internal/staff: evaluations name versions and scores, no content) ----------------


def version_evaluation_list(*, version: IndexVersion) -> QuerySet[VersionEvaluation]:
    """Staff: the evaluations of ``version``, newest first."""
    return VersionEvaluation.objects.filter(version=version).order_by("-id")
