"""Search at scale: recall, agreement and latency per corpus size, visibility and mode, through the search selector.

    .venv/bin/python bench/search_scale.py [--chunks 100000,1000000] [--queries 50] [--no-write] [--smoke]
        [--keep | --reuse]

Per size, in a scratch database on its own embedded servers (``RAG_DATA_DIR``, default
``.data/bench-search``): chunks with the geometry of real text and real embeddings
(each mixes two SciFact abstracts: their all-MiniLM-L6-v2 vectors and their
sentences; read in place from ``--dataset``, never copied), one chunk per document,
in sources of graded sizes, built through the project's services; then one user per
visibility (0.1%, 1%, 10% in a few sources, 10% in a hundred sources, 10% through
document access lists, 50%, 100%). For each user and mode, SciFact's own queries
(natural-language claims of 5-15 words) go through ``retrieval.search.search`` —
the selector behind ``POST /api/v1/search``, query embedding included — and it
prints recall@10 against an exact filtered search (vector), agreement with the
exact BM25 top-10 under the same statistics (keyword; hybrid: with both legs
exact), p50 and p95, the p50 with the query vector given (what the
statement costs without the query's embedding), and for hybrid the p50 with its
two legs one after the other on one connection (``HYBRID_PARALLEL_LEGS=false``).
Appends the table to ``docs/benchmarks.md`` unless ``--no-write`` or ``--smoke``.

A build is a new HNSW graph, so two builds differ in recall by more than many a change does.
``--keep`` keeps each size's database (``search_scale_<chunks>``, replacing an older one) and
``--reuse`` measures the kept one again without building it, after the code changed (a
migration applied to it first, if one came): one build, the code before and after.
"""

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from benchsetup import ROOT, django_setup

django_setup(data_dir="bench-search")

from benchdata import (  # noqa: E402
    documents_add,
    fake_beir_dataset,
    kept_database,
    natural_queries,
    scifact_mixture,
    scratch_database,
    secondary_indexes_rebuilt_after,
    source_add,
    statistics_settle,
    stored_chunks_add,
    version_build,
)
from django.contrib.auth import get_user_model  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from acl.models import DocumentAccessList  # noqa: E402
from acl.services import document_access_lists_set, grant_create, group_create, group_member_add  # noqa: E402
from index_versions.embedding import query_threads_set  # noqa: E402
from index_versions.models import Chunk, Embedding, KeywordPosting, RevisionSignature  # noqa: E402
from index_versions.selectors import index_version_active, version_revisions  # noqa: E402
from index_versions.services.pipelines import pipeline_current  # noqa: E402
from index_versions.services.retention import index_versions_retain  # noqa: E402
from retrieval.search import SearchMode, search  # noqa: E402
from sources.models import Document, DocumentRevision, Source  # noqa: E402

K = 10
# Shares of the corpus: three sources of 0.1%, 0.9% and 9%, one of 40%, one of 40% whose documents carry
# access lists (a quarter for group readers, the rest for group others), and a hundred sources of 0.1%.
LAYOUT = [("a", 0.001), ("b", 0.009), ("c", 0.09), ("d", 0.40), ("e", 0.40)] + [(f"m{n}", 0.001) for n in range(100)]
CASES = [
    ("0.1%", ["a"], ["readers", "others"]),
    ("1%", ["a", "b"], ["readers", "others"]),
    ("10%", ["a", "b", "c"], ["readers", "others"]),
    ("10% (100 sources)", [f"m{n}" for n in range(100)], ["readers", "others"]),
    ("10% (doc lists)", ["e"], ["readers"]),
    ("50%", ["a", "b", "c", "d"], ["readers", "others"]),
    ("100%", [name for name, _ in LAYOUT], ["readers", "others"]),
]


def _placed(chunks: int) -> list[tuple[str, int, int]]:
    """``(source name, first row of the mixture, rows)`` per source of ``LAYOUT``, at ``chunks`` chunks."""
    placed, at = [], 0
    for name, share in LAYOUT:
        count = max(1, round(share * chunks))
        placed.append((name, at, count))
        at += count
    return placed


def build(mixture, *, chunks: int) -> None:
    """Sources, documents, chunks with stored vectors, one version; users, grants and access lists."""
    pipeline = pipeline_current()  # the real model's pipeline: the search embeds its queries for real
    by_source: dict[int, dict[int, int]] = {}
    sources = {}
    # A bulk load: the tables it fills lose their secondary indexes (HNSW, B-tree, GIN) and get them back rebuilt.
    heavy = (Document, DocumentRevision, Embedding, Chunk, KeywordPosting, RevisionSignature)
    with secondary_indexes_rebuilt_after(*heavy):
        for name, at, count in _placed(chunks):
            source = sources[name] = source_add(name)
            texts = mixture.texts[at : at + count]
            revisions = documents_add(source, count, texts=texts)
            stored_chunks_add(
                pipeline=pipeline, revisions=revisions, vectors=mixture.vectors[at : at + count], texts=texts
            )
            by_source[source.pk] = {r.document_id: r.pk for r in revisions}
        version_build(pipeline=pipeline, revisions_by_source=by_source)
    index_versions_retain(keep=1)
    groups = {name: group_create(name=f"bench-{name}") for name in ("readers", "others")}
    listed = list(by_source[sources["e"].pk])
    quarter = len(listed) // 4
    document_access_lists_set(
        source_id=sources["e"].pk,
        lists={d: ["group:bench-readers" if n < quarter else "group:bench-others"] for n, d in enumerate(listed)},
    )
    for label, granted, member_of in CASES:
        user = get_user_model().objects.create_user(username=f"bench-{label}")
        for name in granted:
            grant_create(source=sources[name], user=user)
        for name in member_of:
            group_member_add(group=groups[name], user=user)
    statistics_settle()


def cases_read(*, chunks: int):
    """From the database a :func:`build` made (now, or kept from an earlier run): each case's user and the
    rows of the mixture they may read, and each chunk's row."""
    version = index_version_active()
    row_of: dict[int, int] = {}  # revision id -> row of the mixture
    revisions_of: dict[str, dict[int, int]] = {}  # source name -> {document id: revision id}
    for name, at, _ in _placed(chunks):
        source = Source.objects.get(name=name)
        revisions_of[name] = version_revisions(version, source_id=source.pk)
        numbers = dict(source.documents.values_list("pk", "external_id"))  # "doc-<n>": the n-th of the source
        row_of.update({revision: at + int(numbers[document][4:]) for document, revision in revisions_of[name].items()})
    readers_only = set(
        DocumentAccessList.objects.filter(principals__contains=["group:bench-readers"]).values_list(
            "document_id", flat=True
        )
    )
    cases = []
    for label, granted, member_of in CASES:
        user = get_user_model().objects.get(username=f"bench-{label}")
        visible = [
            row_of[revision]
            for name in granted
            for document, revision in revisions_of[name].items()
            if name != "e" or "others" in member_of or document in readers_only
        ]
        cases.append((label, user, np.asarray(sorted(visible))))
    chunk_row = {
        chunk_id: row_of[revision_id]
        for chunk_id, revision_id in Chunk.objects.filter(pipeline=version.pipeline).values_list("id", "revision_id")
    }
    return cases, chunk_row


def _timed(user, query: str, mode: str, query_vector=None) -> tuple[list[int], float]:
    started = time.perf_counter()
    outcome = search(user=user, query=query, k=K, mode=mode, query_vector=query_vector)
    return [hit.chunk_id for hit in outcome.results], (time.perf_counter() - started) * 1000


def measure(cases, chunk_row, mixture, *, queries: list[int], exact_queries: int) -> list[dict]:
    rows = []
    for label, user, visible in cases:
        for mode in (SearchMode.VECTOR, SearchMode.KEYWORD, SearchMode.HYBRID):
            for q in queries[:3]:
                search(user=user, query=mixture.query_texts[q], k=K, mode=mode)  # warm caches and connection
            quality, latencies = [], []
            for n, q in enumerate(queries):
                found, elapsed = _timed(user, mixture.query_texts[q], mode)
                latencies.append(elapsed)
                if mode == SearchMode.VECTOR:
                    scores = mixture.vectors[visible] @ mixture.query_vectors[q]
                    truth = set(visible[np.argsort(-scores, kind="stable")[:K]].tolist())
                    quality.append(len(truth & {chunk_row[c] for c in found}) / max(min(K, len(visible)), 1))
                elif n < exact_queries:
                    with override_settings(SEARCH_EXACT_MAX_CHUNKS=10**12, KEYWORD_EXACT_MAX_CHUNKS=10**12):
                        exact = search(user=user, query=mixture.query_texts[q], k=K, mode=mode).results
                    exact_ids = {hit.chunk_id for hit in exact}
                    quality.append(len(exact_ids & set(found)) / max(len(exact_ids), 1))
            # The same searches with the query embedded beforehand: what the SQL and Python cost alone.
            given = [
                _timed(user, mixture.query_texts[q], mode, mixture.query_vectors[q])[1]
                for q in queries
                if mode != SearchMode.KEYWORD
            ]
            # Hybrid with its legs one after the other on one connection, as inside a transaction: the
            # same searches, for the ratio of the two in one run.
            one_connection = []
            if mode == SearchMode.HYBRID:
                with override_settings(HYBRID_PARALLEL_LEGS=False):
                    one_connection = [_timed(user, mixture.query_texts[q], mode)[1] for q in queries]
            rows.append(
                {
                    "visibility": label,
                    "visible": len(visible),
                    "mode": mode,
                    "quality": statistics.mean(quality) if quality else None,
                    "p50": statistics.median(latencies),
                    "p95": float(np.percentile(latencies, 95)),
                    "p50_given": _median(given),
                    "p50_one_connection": _median(one_connection),
                }
            )
            print(_line(rows[-1]), flush=True)
    return rows


def _median(latencies: list[float]) -> float | None:
    return statistics.median(latencies) if latencies else None


def _line(row: dict) -> str:
    quality = "" if row["quality"] is None else f"{row['quality']:.3f}"
    cells = [row["visibility"], f"{row['visible']:,}", row["mode"], quality]
    cells += [f"{row[name]:.1f}" if row.get(name) is not None else "" for name in _TIMES]
    return "| " + " | ".join(cells) + " |"


_TIMES = ("p50", "p95", "p50_given", "p50_one_connection")


def render(rows: list[dict], *, chunks: int) -> str:
    return (
        f"{chunks:,} chunks:\n\n"
        "| visibility | visible chunks | mode | recall@10 (vector) / agreement@10 | p50 ms | p95 ms"
        " | p50 ms, query embedded beforehand | p50 ms, legs one after the other |\n"
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n" + "\n".join(_line(row) for row in rows) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--exact-queries", type=int, default=20, help="queries compared with the exact legs")
    parser.add_argument("--dataset", default=str(ROOT.parent / "shared" / "datasets" / "scifact"))
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="2,000 chunks of a fake dataset, nothing recorded")
    kept = parser.add_mutually_exclusive_group()
    kept.add_argument("--keep", action="store_true", help="keep each size's database (search_scale_<chunks>)")
    kept.add_argument("--reuse", action="store_true", help="measure the databases --keep kept, without building")
    args = parser.parse_args()
    query_threads_set()  # as a web process embeds its queries (ragplatform/wsgi.py)
    started_at, load = datetime.now(UTC), os.getloadavg()
    tables = []
    with tempfile.TemporaryDirectory() as folder:
        dataset = fake_beir_dataset(Path(folder) / "scifact") if args.smoke else Path(args.dataset)
        sizes = [2000] if args.smoke else [int(n) for n in args.chunks.split(",")]
        cache = Path(folder) if args.smoke else Path(os.environ["RAG_DATA_DIR"])
        for chunks in sizes:
            mixture = scifact_mixture(dataset, chunks=chunks, seed=args.seed, cache_dir=cache)
            eligible = natural_queries(mixture.query_texts)
            queries = np.random.default_rng(args.seed).permutation(eligible)[: 3 if args.smoke else args.queries]
            name = f"search_scale_{chunks}"
            with kept_database(name) if args.reuse else scratch_database(keep_as=name if args.keep else None):
                if not args.reuse:
                    started = time.perf_counter()
                    build(mixture, chunks=chunks)
                    print(f"{chunks:,} chunks built in {time.perf_counter() - started:.0f} s", flush=True)
                cases, chunk_row = cases_read(chunks=chunks)
                rows = measure(
                    cases,
                    chunk_row,
                    mixture,
                    queries=list(queries),
                    exact_queries=2 if args.smoke else args.exact_queries,
                )
            tables.append(render(rows, chunks=chunks))
            print(tables[-1], flush=True)
    if args.smoke:
        print("smoke: ok")
        return
    if not args.no_write:
        with open(ROOT / "docs" / "benchmarks.md", "a") as out:
            out.write(
                f"\n## Search at scale (bench/search_scale.py)\n\nCommand: `.venv/bin/python bench/search_scale.py "
                f"{shlex.join(sys.argv[1:])}` (run {started_at:%Y-%m-%d %H:%M} UTC; load "
                f"average at the start {load[0]:.1f} on 2 cores).\n\n" + "\n".join(tables)
            )


if __name__ == "__main__":
    main()
