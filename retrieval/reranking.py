"""Second-stage reranking with a CrossEncoder, loaded once per process from a local path.

A bi-encoder (the embedding model) scores a query and a chunk separately; a
CrossEncoder reads the two together and judges relevance far better, at the cost
of one forward pass per pair. So it only re-orders the few best hits the first
stage found: the ACL-filtered, duplicate-collapsed candidates of
:func:`retrieval.selectors.search`. It never sees, and so can never return, a
chunk the searcher may not read.

``RERANK_MODEL`` names a local directory (nothing is ever downloaded); empty
turns reranking off, and asking for it then is an error the API reports as
``rerank_unavailable``.
"""

import dataclasses
import functools
import os

from django.conf import settings

from index_versions.chunking import chunk_context

# However large RERANK_CANDIDATES is set, a search never runs more CrossEncoder pairs than this
# (plus k when k is larger): the cost is one forward pass per pair, on the request's thread.
MAX_CANDIDATES = 200


def rerank_available() -> bool:
    return bool(settings.RERANK_MODEL)


def rerank_candidates(*, k: int) -> int:
    """How many first-stage hits a reranked search of ``k`` results fetches: at least ``k``."""
    return max(k, min(max(settings.RERANK_CANDIDATES, 1), MAX_CANDIDATES))


@functools.cache
def _load(path: str, device: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import CrossEncoder

    return CrossEncoder(path, device=device, local_files_only=True)


def cross_encoder():
    """The CrossEncoder ``RERANK_MODEL`` names, on ``EMBEDDING_DEVICE``; cached per (path, device)."""
    if not rerank_available():
        raise RuntimeError("RERANK_MODEL is not set; check rerank_available() before reranking.")
    return _load(settings.RERANK_MODEL, settings.EMBEDDING_DEVICE)


def passage(hit) -> str:
    """The text a hit is judged by: its context (``Title > Section path``), a blank line, the chunk.

    Chunks are cut at headings and do not repeat them, so "Parental leave" may be
    only in the title; without it the CrossEncoder would judge the chunk blind. It
    reads what the embedding model read (:func:`index_versions.chunking.chunk_context`).
    """
    context = chunk_context(hit.document_title or "", hit.section or "")
    return f"{context}\n\n{hit.text}" if context else hit.text


def rerank(*, query: str, hits: list, k: int) -> list:
    """The ``k`` best of ``hits`` by CrossEncoder score, best first, each with that score as ``score``.

    ``hits`` are already ACL-filtered and collapsed (one per duplicate group, with
    its ``also_in``), so reranking only re-orders them. Pairs are scored in batches
    of ``RERANK_BATCH_SIZE``; equal scores keep the first stage's order.
    """
    if not hits:
        return []
    scores = cross_encoder().predict(
        [(query, passage(hit)) for hit in hits],
        batch_size=settings.RERANK_BATCH_SIZE,
        show_progress_bar=False,
        convert_to_numpy=True,
    )
    order = sorted(range(len(hits)), key=lambda i: -float(scores[i]))  # stable: ties keep their order
    return [dataclasses.replace(hits[i], score=float(scores[i])) for i in order[:k]]
