"""Datasets built from rated searches and answers (internal/staff): evaluation sets and fine-tuning chats."""

from acl.models import AuditEvent
from acl.services import query_text_retained
from index_versions.models import Chunk
from retrieval.models import Feedback

FINE_TUNING_SYSTEM_PROMPT = "Answer from the documents provided and cite them as [n]."


def feedback_dataset_rows(*, kind: str):
    """Internal/staff: JSONL rows built from rated searches and answers, oldest first.

    Only what the audit kept goes out, so its privacy settings apply: a query the
    audit redacted is exported redacted, a dropped one is skipped; comments are
    masked the same way. ``evaluation``: one row per rating with the query, the
    cited chunks and, for a rating up, ``relevant_documents``: the documents of
    those chunks, so the file can be the evaluation gate's set
    (``EVALUATION_GATE_SET``, :mod:`retrieval.gate`) as it is. ``fine-tuning``:
    chat-message rows from answers rated up whose text the audit kept
    (``AUDIT_ANSWER_TEXT=keep``).
    """
    rows = Feedback.objects.select_related("event").order_by("id")
    if kind == "fine-tuning":
        rows = rows.filter(rating=Feedback.Rating.UP, event__action=AuditEvent.Action.ANSWER)
    batch: list = []
    for feedback in rows.iterator(chunk_size=500):
        batch.append(feedback)
        if len(batch) == 500:
            yield from _feedback_rows(batch, kind=kind, query_text_retained=query_text_retained)
            batch = []
    yield from _feedback_rows(batch, kind=kind, query_text_retained=query_text_retained)


def _feedback_rows(batch: list, *, kind: str, query_text_retained):
    document_of: dict[int, int] = {}  # cited chunk -> its document, one query per batch
    if kind != "fine-tuning":
        cited = {
            chunk_id
            for feedback in batch
            if feedback.rating == Feedback.Rating.UP
            for chunk_id in (feedback.event.details or {}).get("cited_chunks", [])
            if isinstance(chunk_id, int)
        }
        document_of = dict(Chunk.objects.filter(pk__in=cited).values_list("pk", "revision__document_id"))
    for feedback in batch:
        details = feedback.event.details or {}
        query = details.get("query")
        if not query:
            continue
        if kind == "fine-tuning":
            if not details.get("answer"):
                continue
            yield {
                "messages": [
                    {"role": "system", "content": FINE_TUNING_SYSTEM_PROMPT},
                    {"role": "user", "content": query},
                    {"role": "assistant", "content": details["answer"]},
                ]
            }
            continue
        cited_chunks = details.get("cited_chunks", [])
        relevant = []
        if feedback.rating == Feedback.Rating.UP:
            relevant = list(dict.fromkeys(document_of[c] for c in cited_chunks if c in document_of))
        yield {
            "id": feedback.event_id,
            "kind": feedback.event.action,
            "query": query,
            "rating": feedback.rating,
            "comment": query_text_retained(feedback.comment) or "",
            "index_version": feedback.event.index_version,
            "cited_chunks": cited_chunks,
            "relevant_documents": relevant,
            "created_at": feedback.created_at.isoformat(),
        }
