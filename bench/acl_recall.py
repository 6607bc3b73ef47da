"""Recall and latency of ACL-filtered vector search (``retrieval.search.vector_search``).

Builds a corpus of >= 100,000 chunk vectors in a throw-away database. By default
the vectors have the geometry of real embeddings: all-MiniLM-L6-v2 embeddings of
the SciFact abstracts in ``../shared/datasets/scifact`` (evaluation data, read in
place, never copied), each chunk a random convex mix of two abstracts, and the
queries are SciFact's real queries. ``--vectors random`` uses uniform random unit
vectors instead: no neighbourhood structure at all, the worst case for any graph
index. The bench then gives one user per row of the table grants (and, for one
row, document access lists) that make a given fraction of the corpus visible,
and compares the production search against an exact filtered search (brute force
in SQL, index scans off, visibility computed here in Python rather than by the
filter under test). Prints fraction, plan, recall@10, p50 and p95 latency, and
appends the table to ``docs/benchmarks.md``.

    .venv/bin/python bench/acl_recall.py [--chunks 100000] [--queries 50] [--no-write]
    .venv/bin/python bench/acl_recall.py --smoke   # seconds: every path, tiny sizes, docs untouched

The corpus is built through the project's services (``bench/benchdata.py``): 28
sources of graded sizes, so that grants of whole sources reach each row's
fraction exactly, one version build per source. Runs on its own embedded servers
under ``.data/bench`` (``RAG_DATA_DIR``) and drops its database at the end.
"""

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchsetup import ROOT as BASE_DIR
from benchsetup import django_setup

django_setup(data_dir="bench")

import numpy as np  # noqa: E402
from benchdata import (  # noqa: E402
    documents_add,
    fake_beir_dataset,
    random_unit_vectors,
    scifact_mixture,
    scratch_database,
    source_add,
    statistics_settle,
    stored_chunks_add,
    stored_vectors_pipeline,
    vector_index_rebuilt_after,
    version_build,
)
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from acl.services import document_access_list_set, grant_create, group_create, group_member_add  # noqa: E402
from index_versions.embedding import query_threads_set  # noqa: E402
from index_versions.models import Chunk, Embedding, IndexVersion  # noqa: E402
from index_versions.selectors import version_rows  # noqa: E402
from index_versions.services.retention import index_versions_retain  # noqa: E402
from retrieval.search import SearchPlan, vector_literal, vector_search  # noqa: E402

DIMS = 384
K = 10
CHUNKS_PER_DOC = 10
# (label, share of the corpus in granted sources, share of granted documents hidden by an access list)
ROWS = [
    ("0.1%", 0.001, 0.0),
    ("1%", 0.01, 0.0),
    ("10%", 0.1, 0.0),
    ("10% (doc lists)", 0.2, 0.5),
    ("50%", 0.5, 0.0),
    ("100%", 1.0, 0.0),
]
# --smoke: big enough for every source tier and for both plans (the sweep lowers the exact threshold).
SMOKE_CHUNKS, SMOKE_QUERIES = 2000, 3
SMOKE_SWEEP = "HNSW_EF_SEARCH=40;SEARCH_EXACT_MAX_CHUNKS=100"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--vectors", choices=["scifact", "random"], default="scifact")
    parser.add_argument("--dataset", default=str(BASE_DIR.parent / "shared" / "datasets" / "scifact"))
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument(
        "--sweep",
        default="",
        help="tuning aid, printed and not recorded: e.g. 'HNSW_EF_SEARCH=40,200;SEARCH_EXACT_MAX_CHUNKS=5000'",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="seconds: both vector kinds on a tiny corpus (SciFact faked), a sweep, and recording into a "
        "scratch copy of docs/benchmarks.md; fails if an exact-plan row misses a true neighbour",
    )
    args = parser.parse_args()
    query_threads_set()  # as a web process embeds its queries (ragplatform/wsgi.py)
    if args.smoke:
        smoke(seed=args.seed)
        return
    started_at, load_before = datetime.now(UTC), os.getloadavg()[0]
    rows = run(
        chunks=args.chunks,
        queries=args.queries,
        seed=args.seed,
        vectors=args.vectors,
        dataset=Path(args.dataset),
        sweep=args.sweep,
        cache_dir=Path(os.environ["RAG_DATA_DIR"]),
    )
    table = render(rows, chunks=args.chunks, queries=args.queries, vectors=args.vectors)
    print(table)
    if not args.no_write:
        record(table, vectors=args.vectors, started_at=started_at, load=(load_before, os.getloadavg()[0]))


def smoke(*, seed: int) -> None:
    """Every path of the bench at a size of seconds; docs/benchmarks.md is only ever copied."""
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        dataset = fake_beir_dataset(scratch / "scifact")
        docs = scratch / "benchmarks.md"
        shutil.copyfile(BASE_DIR / "docs" / "benchmarks.md", docs)
        for vectors in ("scifact", "random"):
            rows = run(
                chunks=SMOKE_CHUNKS,
                queries=SMOKE_QUERIES,
                seed=seed,
                vectors=vectors,
                dataset=dataset,
                sweep=SMOKE_SWEEP,
                cache_dir=scratch,
            )
            missed = [row["fraction"] for row in rows if row["plan"] == SearchPlan.EXACT and row["recall"] < 1.0]
            if missed:
                sys.exit(f"exact-plan rows {missed} missed true neighbours: the ACL filter and the truth disagree")
            table = render(rows, chunks=SMOKE_CHUNKS, queries=SMOKE_QUERIES, vectors=vectors)
            print(table)
            record(table, vectors=vectors, started_at=datetime.now(UTC), load=os.getloadavg()[:1] * 2, path=docs)
            if docs.read_text().count(table) != 1:
                sys.exit(f"recording the {vectors} table did not replace its section exactly once")
    print("smoke: ok")


def run(
    *, chunks: int, queries: int, seed: int, vectors: str, dataset: Path, sweep: str, cache_dir: Path
) -> list[dict]:
    """Build the corpus in a scratch database, measure every row (and the sweep), drop the database."""
    with scratch_database():
        started = time.perf_counter()
        chunk_vectors, query_pool = None, None
        if vectors == "scifact":
            chunk_vectors, query_pool = scifact_vectors(dataset, chunks=chunks, seed=seed, cache_dir=cache_dir)
        else:
            chunk_vectors = random_unit_vectors(chunks, DIMS, seed=seed)
        version, cases = build_corpus(vectors=chunk_vectors, rng=random.Random(seed))  # noqa: S311 - a reproducible sample, not a secret
        print(f"corpus: {chunks} chunks, built in {time.perf_counter() - started:.0f}s", flush=True)
        rows = measure(version, cases, queries=queries, rng=np.random.default_rng(seed), query_pool=query_pool)
        for name, values in (item.split("=", 1) for item in sweep.split(";") if item):
            for value in values.split(","):
                print(f"--- {name} = {value}", flush=True)
                with override_settings(**{name: int(value)}):
                    measure(version, cases, queries=queries, rng=np.random.default_rng(seed), query_pool=query_pool)
    return rows


def scifact_vectors(dataset: Path, *, chunks: int, seed: int, cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Chunk vectors mixed from real abstract embeddings, and the real query embeddings."""
    started = time.perf_counter()
    mixture = scifact_mixture(dataset, chunks=chunks, seed=seed, cache_dir=cache_dir)
    print(f"SciFact mixture of {chunks} chunks ready in {time.perf_counter() - started:.0f}s", flush=True)
    return mixture.vectors, mixture.query_vectors


def source_sizes(documents: int) -> list[int]:
    """Documents per source, smallest first: ten of 0.1% of the corpus, nine of 1%, nine sharing the rest.

    Whole-source grants then make exactly 0.1%, 1%, 10%, 20%, 50% and 100% visible
    (at the default size), with 28 version builds. One source per 0.1% would take
    1,000 builds, each copying the version built before it and re-running duplicate
    detection over all of it (about 3 ms a document): hours. Few sources change the
    planner's estimates, though (docs/benchmarks.md, this bench's section).
    """
    sizes = [max(1, documents // 1000)] * 10 + [max(1, documents // 100)] * 9
    rest = documents - sum(sizes)
    if rest < 9:
        sys.exit(f"{documents * CHUNKS_PER_DOC} chunks are too few for the corpus layout; pass --chunks 2000 or more")
    return sizes + [rest // 9 + (1 if n < rest % 9 else 0) for n in range(9)][::-1]


def build_corpus(*, vectors: np.ndarray, rng: random.Random):
    """Sources, documents, stored-vector chunks and one active version; then one user per row of ROWS."""
    pipeline = stored_vectors_pipeline(dimensions=DIMS)
    n_docs = len(vectors) // CHUNKS_PER_DOC
    sources, revisions = [], []
    for n, size in enumerate(source_sizes(n_docs)):
        source = source_add(f"bench-{n}")
        sources.append((source, documents_add(source, size)))
        revisions += sources[-1][1]
    loaded = time.perf_counter()
    with vector_index_rebuilt_after(dimensions=DIMS):
        stored_chunks_add(pipeline=pipeline, revisions=revisions, vectors=vectors[: n_docs * CHUNKS_PER_DOC])
        indexed = time.perf_counter()
    print(
        f"{len(revisions) * CHUNKS_PER_DOC} chunks stored in {indexed - loaded:.0f}s, "
        f"HNSW index built in {time.perf_counter() - indexed:.0f}s",
        flush=True,
    )
    version = version_build(
        pipeline=pipeline,
        revisions_by_source={
            source.pk: {revision.document_id: revision.pk for revision in source_revisions}
            for source, source_revisions in sources
        },
    )
    index_versions_retain(keep=1)  # the searched version alone, as if built in one go
    statistics_settle()

    readers = group_create(name="bench-readers")
    cases = []
    for label, share, hidden_share in ROWS:
        user = get_user_model().objects.create_user(username=f"bench-{label}")
        granted, visible_docs = [], []
        for source, source_revisions in sources:
            if len(visible_docs) >= share * n_docs - 1e-9 and granted:
                break
            grant_create(source=source, user=user)
            granted.append(source)
            visible_docs += [revision.document for revision in source_revisions]
        if hidden_share:
            hidden = set(rng.sample(range(len(visible_docs)), round(hidden_share * len(visible_docs))))
            # Hidden from this user only: every other bench user is in the listed group.
            for n in sorted(hidden):
                document_access_list_set(document=visible_docs[n], principals=["group:bench-readers"])
            visible_docs = [document for n, document in enumerate(visible_docs) if n not in hidden]
        else:
            group_member_add(group=readers, user=user)
        cases.append((label, user, [document.pk for document in visible_docs]))
    return version, cases


def exact_nearest(version: IndexVersion, visible_docs: list[int], vector: str) -> list[int]:
    """The truth: brute force over the version's rows (read through ``version_rows``) of the visible documents."""
    rows = version_rows(version)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(
            f"""
            SELECT c.id
            FROM ({rows.text}) vd
            JOIN {Chunk._meta.db_table} c ON c.revision_id = vd.revision_id AND c.pipeline_id = %(pipeline)s
            JOIN {Embedding._meta.db_table} e ON e.id = c.embedding_id
            WHERE vd.document_id = ANY(%(visible)s)
            ORDER BY e.vector::vector({DIMS}) <=> %(query)s::vector({DIMS}), c.id
            LIMIT %(k)s
            """,
            {**rows.params, "pipeline": version.pipeline_id, "visible": visible_docs, "query": vector, "k": K},
        )
        return [row[0] for row in cursor.fetchall()]


def measure(version, cases, *, queries: int, rng, query_pool: np.ndarray | None = None) -> list[dict]:
    rows = []
    for label, user, visible_docs in cases:
        if query_pool is None:
            vectors = rng.standard_normal((queries, DIMS))
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        else:
            vectors = query_pool[rng.choice(len(query_pool), size=queries, replace=False)]
        for vector in vectors[:3]:  # warm the caches and the connection
            vector_search(user=user, version=version, query_vector=vector, k=K)
        recalls, latencies, plans = [], [], set()
        for vector in vectors:
            started = time.perf_counter()
            nearest = vector_search(user=user, version=version, query_vector=vector, k=K)
            latencies.append((time.perf_counter() - started) * 1000)
            plans.add(nearest.plan)
            truth = exact_nearest(version, visible_docs, vector_literal(vector))
            found = {hit.chunk_id for hit in nearest.hits}
            recalls.append(len(found & set(truth)) / len(truth) if truth else 1.0)
        latencies.sort()
        row = {
            "fraction": label,
            "visible": len(visible_docs) * CHUNKS_PER_DOC,
            "plan": "/".join(sorted(plans)),
            "recall": statistics.fmean(recalls),
            "min_recall": min(recalls),
            "p50": statistics.median(latencies),
            "p95": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))],
        }
        print(
            f"{row['fraction']:>16}  {row['plan']:>5}  recall@{K} {row['recall']:.3f}  "
            f"p50 {row['p50']:.1f} ms  p95 {row['p95']:.1f} ms",
            flush=True,
        )
        rows.append(row)
    return rows


def render(rows: list[dict], *, chunks: int, queries: int, vectors: str) -> str:
    from django.conf import settings

    corpus = {
        "scifact": f"{chunks:,} chunk vectors mixed from all-MiniLM-L6-v2 embeddings of the SciFact abstracts "
        f"({DIMS} d), {queries} real SciFact queries per row",
        "random": f"{chunks:,} chunks of uniform random unit vectors ({DIMS} d), {queries} random queries per row",
    }[vectors]
    lines = [
        f"`--vectors {vectors}`: {corpus}, k = {K}; "
        f"HNSW m = 16, ef_construction = 64; hnsw.ef_search = {settings.HNSW_EF_SEARCH}, "
        f"hnsw.max_scan_tuples = {settings.HNSW_MAX_SCAN_TUPLES}, "
        f"exact scan up to {settings.SEARCH_EXACT_MAX_CHUNKS:,} visible chunks.",
        "",
        "| visible fraction | visible chunks | plan | recall@10 (mean) | recall@10 (worst query) | p50 ms | p95 ms |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['fraction']} | {row['visible']:,} | {row['plan']} | {row['recall']:.3f} | "
            f"{row['min_recall']:.1f} | {row['p50']:.1f} | {row['p95']:.1f} |"
        )
    return "\n".join(lines)


SECTION = "## ACL-filtered recall (bench/acl_recall.py)"
RANDOM_SECTION = "## ACL-filtered recall on random vectors (bench/acl_recall.py --vectors random)"


def record(
    table: str, *, vectors: str, started_at: datetime, load: tuple[float, float], path: Path | None = None
) -> None:
    """Replace this benchmark's section of docs/benchmarks.md (or of ``path``); other sections stay as they are."""
    path = path or BASE_DIR / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n\nMeasured on the development machine (2 cores).\n"
    section = SECTION if vectors == "scifact" else RANDOM_SECTION
    flag = "" if vectors == "scifact" else " --vectors random"
    body = (
        f"{section}\n\nCommand: `.venv/bin/python bench/acl_recall.py{flag}` "
        f"(run {started_at:%Y-%m-%d %H:%M} to {datetime.now(UTC):%H:%M} UTC; load average {load[0]:.1f} at the "
        f"start and {load[1]:.1f} at the end, on {os.cpu_count()} cores). Recall is against exact filtered search; "
        "latency is the whole `vector_search` call (plan choice, ACL filter and search, in one transaction).\n\n"
        f"{table}\n"
    )
    if section in text:
        before, _, after = text.partition(section)
        rest = after.split("\n## ", 1)
        text = before + body + ("\n## " + rest[1] if len(rest) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"recorded in {path}")


if __name__ == "__main__":
    main()
