"""Retrieval quality on a BEIR-format dataset, through the same selector the API uses.

A dataset (``corpus.jsonl``, ``queries.jsonl``, ``qrels.tsv``) is loaded into a
dedicated, disabled source through the index services every sync uses
(:func:`index_versions.services.storage.revision_chunks_ensure`,
:func:`index_versions.services.building.index_version_build_for_source`), into a version
that is built but **not activated**: evaluating never changes what users search.
A staff-flagged evaluation user holds the only grant on that source, so the
searches run under the ordinary ACL filter (staff status grants nothing in search).
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from acl.models import SourceGrant
from index_versions import embedding
from index_versions.models import IndexVersion
from index_versions.services.building import index_version_build_for_source
from index_versions.services.pipelines import pipeline_get_or_create
from index_versions.services.storage import revision_chunks_ensure, vector_index_ensure
from retrieval.reranking import rerank_available
from retrieval.search import SearchMode, search
from sources.models import Document, DocumentRevision, Source

EVALUATION_USERNAME = "evaluation"


_BATCH = 256


# Hybrid search whose candidates the CrossEncoder (RERANK_MODEL) re-orders: an evaluation mode, not a
# search mode (the API's is the separate ``rerank`` flag).
RERANK_MODE = "hybrid+rerank"


MODES = (*SearchMode.ALL, RERANK_MODE)


def default_modes() -> tuple[str, ...]:
    """Every search mode, plus ``hybrid+rerank`` when a reranker is configured (``RERANK_MODEL``)."""
    return MODES if rerank_available() else SearchMode.ALL


@dataclass(frozen=True)
class Dataset:
    name: str
    corpus: dict[str, tuple[str, str]]  # id -> (title, text)
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]  # query id -> {document id: relevance}


def dataset_read(path: Path) -> Dataset:
    """A BEIR dataset; only queries with judgements (the qrels' split) are kept."""
    corpus = {}
    with open(path / "corpus.jsonl", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            corpus[str(row["_id"])] = (row.get("title") or "", row.get("text") or "")
    qrels_path = path / "qrels.tsv" if (path / "qrels.tsv").exists() else path / "qrels" / "test.tsv"
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_path, encoding="utf-8") as lines:
        for line in lines:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0] == "query-id" or not parts[2].lstrip("-").isdigit():
                continue
            if int(parts[2]) > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries = {}
    with open(path / "queries.jsonl", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if str(row["_id"]) in qrels:
                queries[str(row["_id"])] = row["text"]
    return Dataset(name=path.name, corpus=corpus, queries=queries, qrels=qrels)


def evaluation_user():
    """The principal evaluations search as: staff (for the console), no password, no other grant."""
    user, created = get_user_model().objects.get_or_create(
        username=EVALUATION_USERNAME, defaults={"is_staff": True, "is_active": True}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def evaluation_corpus_load(
    *, dataset: Dataset, max_tokens: int, overlap_tokens: int, progress: Callable[[int], None] | None = None
) -> IndexVersion:
    """Load ``dataset``'s corpus into source ``evaluation:<name>`` and build a ready, inactive version.

    Each document's title is its revision's title, which the chunker puts in front
    of every chunk's text (BEIR embeds title and body together). Loading again
    reuses documents, revisions, chunks and embeddings: only what changed is embedded.
    """
    user = evaluation_user()
    with transaction.atomic():
        source, _ = Source.objects.get_or_create(
            name=f"evaluation:{dataset.name}"[:200], defaults={"kind": Source.Kind.UPLOAD, "enabled": False}
        )
        SourceGrant.objects.get_or_create(source=source, user=user)
    revisions = _documents_store(source=source, corpus=dataset.corpus)
    pipeline = pipeline_get_or_create(
        max_tokens=max_tokens, overlap_tokens=overlap_tokens, embedding_model=embedding.model_name()
    )
    vector_index_ensure(dimensions=pipeline.dimensions)
    revision_ids = list(revisions.values())
    computed = bytes_added = 0
    # In batches, outside any transaction, like a sync's process phase.
    for start in range(0, len(revision_ids), _BATCH):
        batch = revision_ids[start : start + _BATCH]
        work = revision_chunks_ensure(revision_ids=batch, pipeline=pipeline)
        computed += work["embeddings_computed"]
        bytes_added += work["bytes"]
        if progress is not None:
            progress(len(batch))
    return index_version_build_for_source(
        source_id=source.pk,
        revisions=revisions,
        pipeline=pipeline,
        actor=user,
        note=f"evaluation of {dataset.name}",
        trigger=IndexVersion.Trigger.EVALUATION,
        activate=False,
        embeddings_computed=computed,
        bytes_added=bytes_added,
        activation_reason="evaluation",
    )


@transaction.atomic
def _documents_store(*, source: Source, corpus: dict[str, tuple[str, str]]) -> dict[int, int]:
    """Documents and revisions for ``corpus``; returns {document id: revision id}."""
    contents = {external_id: text.strip() or title for external_id, (title, text) in corpus.items()}
    hashes = {external_id: hashlib.sha256(content.encode()).hexdigest() for external_id, content in contents.items()}
    Document.objects.bulk_create(
        [
            Document(
                source=source,
                external_id=external_id,
                title=(corpus[external_id][0] or external_id)[:500],
                uri=f"beir:{source.name}/{external_id}"[:2048],
                content_hash=hashes[external_id],
            )
            for external_id in contents
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    documents = dict(Document.objects.filter(source=source).values_list("external_id", "pk"))
    DocumentRevision.objects.bulk_create(
        [
            DocumentRevision(
                document_id=documents[external_id],
                content_hash=hashes[external_id],
                title=(corpus[external_id][0] or external_id)[:500],
                uri=f"beir:{source.name}/{external_id}"[:2048],
                content=content,
            )
            for external_id, content in contents.items()
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    by_hash = {
        (document_id, content_hash): revision_id
        for revision_id, document_id, content_hash in DocumentRevision.objects.filter(
            document__source=source
        ).values_list("pk", "document_id", "content_hash")
    }
    return {documents[e]: by_hash[(documents[e], hashes[e])] for e in contents}


def ranked_documents(*, user, version: IndexVersion, query: str, mode: str, depth: int = 100) -> list[str]:
    """External ids of the documents found, best first (a document ranks by its best chunk).

    ``mode`` is a search mode or ``hybrid+rerank`` (:data:`RERANK_MODE`).
    """
    base, _, extra = mode.partition("+")
    outcome = search(user=user, query=query, k=depth, mode=base, version=version, rerank=extra == "rerank")
    external = dict(
        Document.objects.filter(pk__in={hit.document_id for hit in outcome.results}).values_list("pk", "external_id")
    )
    seen: dict[str, None] = {}
    for hit in outcome.results:
        seen.setdefault(external[hit.document_id], None)
    return list(seen)
