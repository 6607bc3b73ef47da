"""Search as a recorded action: run the ACL-filtered search, then write its audit event."""

import dataclasses
import time

from django.conf import settings
from django.db import transaction

from acl.models import AuditEvent
from acl.services import audit_record, query_text_retained
from ragplatform.exceptions import ErrorCode, InvalidInput, NotFound
from retrieval import generators
from retrieval.models import Feedback
from retrieval.reranking import rerank_available
from retrieval.search import NO_FILTERS, SearchFilters, SearchOutcome, search

RATEABLE_ACTIONS = (AuditEvent.Action.SEARCH, AuditEvent.Action.ANSWER)


def search_run(
    *,
    user,
    query: str,
    k: int,
    mode: str | None = None,
    filters: SearchFilters = NO_FILTERS,
    service_account=None,
    rerank: bool | None = None,
    recency_boost: bool | None = None,
    recency_half_life_days: float | None = None,
    audit_details: dict | None = None,
) -> SearchOutcome:
    """Search the active version as ``user`` and record who asked, for whom, and what came back.

    ``user`` is the effective user (the one a service account acts for, if any);
    ``service_account`` the app that made the call. ``mode`` defaults to
    ``SEARCH_DEFAULT_MODE``, ``rerank`` to ``RERANK_DEFAULT``; the recency options
    are resolved by :func:`search_options_resolve`. The audit keeps the query text
    as ``AUDIT_QUERY_TEXT`` says, whether the results were reranked or boosted, and
    the result count, never the results; ``audit_details`` adds to the event's
    details (the console records the staff member who searched on the user's
    behalf). Not one transaction: the search is a read and the only write is one
    INSERT, and the query embedding should not run inside an open transaction.
    """
    mode = mode or settings.SEARCH_DEFAULT_MODE
    rerank, half_life = search_options_resolve(
        rerank=rerank, recency_boost=recency_boost, recency_half_life_days=recency_half_life_days
    )
    outcome = search(
        user=user, query=query, k=k, mode=mode, filters=filters, rerank=rerank, recency_half_life_days=half_life
    )
    details = {"query": query_text_retained(query), "k": k, "plan": outcome.plan, "mode": mode, "rerank": rerank}
    if outcome.keyword_plan:
        details["keyword_plan"] = outcome.keyword_plan
    if half_life:
        details["recency_half_life_days"] = half_life
    if filters != NO_FILTERS:
        details["filters"] = _filters_audited(filters)
    details.update(audit_details or {})
    event = audit_record(
        actor=user,
        service_account=service_account,
        action=AuditEvent.Action.SEARCH,
        details=details,
        index_version=outcome.index_version,
        result_count=len(outcome.results),
    )
    return dataclasses.replace(outcome, id=event.pk)


def search_options_resolve(
    *, rerank: bool | None, recency_boost: bool | None, recency_half_life_days: float | None
) -> tuple[bool, float | None]:
    """``(rerank, recency half-life in days or None)`` for a search, from the request and the settings.

    Checked here, before any work, so a request for something this deployment
    cannot do fails with a clear 400 instead of silently returning unreranked or
    unboosted results the caller would take for reranked ones. ``rerank`` defaults
    to ``RERANK_DEFAULT`` (which is ignored while no ``RERANK_MODEL`` is set);
    explicit ``rerank: true`` without a model is ``rerank_unavailable``. The boost
    is on when ``recency_half_life_days`` is given (it is that half-life), or when
    ``recency_boost`` is true or left out and ``SEARCH_RECENCY_HALF_LIFE_DAYS`` is
    positive; ``recency_boost: false`` turns it off, and ``true`` with no half-life
    from either place is ``recency_unavailable``.
    """
    if rerank is None:
        rerank = settings.RERANK_DEFAULT and rerank_available()
    elif rerank and not rerank_available():
        raise InvalidInput(
            "Reranking is not configured on this server: set RERANK_MODEL to a local CrossEncoder, "
            "or search without rerank.",
            code=ErrorCode.RERANK_UNAVAILABLE,
        )
    if recency_boost is False:
        if recency_half_life_days:
            raise InvalidInput(
                "recency_boost is false but recency_half_life_days is set; send one or the other.",
                code=ErrorCode.INVALID,
                details={"recency_boost": ["contradicts recency_half_life_days"]},
            )
        return rerank, None
    half_life = recency_half_life_days or (settings.SEARCH_RECENCY_HALF_LIFE_DAYS or None)
    if recency_boost and not half_life:
        raise InvalidInput(
            "No recency half-life: send recency_half_life_days, or set SEARCH_RECENCY_HALF_LIFE_DAYS on the server.",
            code=ErrorCode.RECENCY_UNAVAILABLE,
        )
    return rerank, half_life


def _filters_audited(filters: SearchFilters) -> dict:
    return {
        "sources": list(filters.sources),
        "modified_after": filters.modified_after and filters.modified_after.isoformat(),
        "modified_before": filters.modified_before and filters.modified_before.isoformat(),
        "document_types": list(filters.document_types),
        # Values may name people or tickets: kept as AUDIT_QUERY_TEXT says, like the query.
        "metadata": {key: [_audited_value(v) for v in values] for key, values in filters.metadata},
    }


def _audited_value(value):
    return value if isinstance(value, bool) else query_text_retained(str(value))


@dataclasses.dataclass(frozen=True)
class AnswerOutcome:
    answer: str
    citations: list  # retrieval.generators.Citation
    index_version: int | None
    generator: str
    took_ms: float
    id: int | None = None  # the answer's audit event: what feedback refers to


def answer_run(
    *,
    user,
    query: str,
    k: int,
    mode: str | None = None,
    filters: SearchFilters = NO_FILTERS,
    generator: str | None = None,
    service_account=None,
    rerank: bool | None = None,
    recency_boost: bool | None = None,
    recency_half_life_days: float | None = None,
) -> AnswerOutcome:
    """Answer ``query`` from the chunks ``user`` may read, citing them, and audit it like a search.

    The generator (``generator`` or ``ANSWER_GENERATOR``) receives only the hits of
    the ACL-filtered search, so it cannot cite or quote anything else. The audit
    records the query as ``AUDIT_QUERY_TEXT`` says, the generator and which chunks
    were cited; the answer text only when ``AUDIT_ANSWER_TEXT`` is ``keep`` (off by
    default: it quotes documents, and staff read the audit), masked as ``AUDIT_QUERY_TEXT`` says.
    Reranking and the recency boost are resolved as for a search
    (:func:`search_options_resolve`) and re-order the hits the generator receives.
    """
    started = time.perf_counter()
    generator = generator or settings.ANSWER_GENERATOR
    generate = generators.generator_get(generator)
    mode = mode or settings.SEARCH_DEFAULT_MODE
    rerank, half_life = search_options_resolve(
        rerank=rerank, recency_boost=recency_boost, recency_half_life_days=recency_half_life_days
    )
    found = search(
        user=user, query=query, k=k, mode=mode, filters=filters, rerank=rerank, recency_half_life_days=half_life
    )
    answer = generate(query=query, hits=found.results, model=found.embedding_model)
    event = audit_record(
        actor=user,
        service_account=service_account,
        action=AuditEvent.Action.ANSWER,
        details={
            "query": query_text_retained(query),
            "k": k,
            "mode": mode,
            "rerank": rerank,
            **({"recency_half_life_days": half_life} if half_life else {}),
            "generator": generator,
            "cited_chunks": [citation.hit.chunk_id for citation in answer.citations],
            **_answer_text_audited(answer.text),
        },
        index_version=found.index_version,
        result_count=len(answer.citations),
    )
    return AnswerOutcome(
        answer=answer.text,
        citations=answer.citations,
        index_version=found.index_version,
        generator=generator,
        took_ms=round((time.perf_counter() - started) * 1000, 2),
        id=event.pk,
    )


@transaction.atomic
def feedback_give(*, user, event_id: int, rating: str, comment: str = "") -> Feedback:
    """Rate one of ``user``'s own searches or answers; rating it again replaces the rating.

    Someone else's event, or one that is not a search or an answer, is "not found":
    the id space of the audit trail is not something to probe.
    """
    event = AuditEvent.objects.filter(pk=event_id, actor_id=user.pk, action__in=RATEABLE_ACTIONS).first()
    if event is None:
        raise NotFound(f"No search or answer {event_id} of yours.", code=ErrorCode.NOT_FOUND)
    feedback, _ = Feedback.objects.update_or_create(
        event=event, user=user, defaults={"rating": rating, "comment": comment}
    )
    return feedback


def _answer_text_audited(text: str) -> dict:
    # Kept only by explicit choice, and then masked like queries are (AUDIT_QUERY_TEXT).
    if settings.AUDIT_ANSWER_TEXT != "keep":
        return {}
    return {"answer": query_text_retained(text)}
