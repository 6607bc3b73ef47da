"""Recall and latency of ACL-filtered vector search (``retrieval.selectors.vector_search``).

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

Runs on its own embedded servers under ``.data/bench`` (``RAG_DATA_DIR``) and
drops its database at the end.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchsetup import ROOT as BASE_DIR
from benchsetup import django_setup

django_setup(data_dir="bench")

import numpy as np  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from acl.models import DocumentAccessList, SourceGrant  # noqa: E402
from index_versions.models import Embedding, IndexVersion, Pipeline, VersionDocument  # noqa: E402
from retrieval.search import vector_literal, vector_search  # noqa: E402
from sources.models import Document, DocumentRevision, Source  # noqa: E402

DIMS = 384
K = 10
DOCS_PER_SOURCE = 10
CHUNKS_PER_DOC = 10
HNSW_INDEX = "embedding_vector_384_hnsw"
# The search only reads embeddings stored under its pipeline's model name.
BENCH_MODEL = "bench-vectors"
# (label, share of sources granted, share of granted documents hidden by an access list)
ROWS = [
    ("0.1%", 0.001, 0.0),
    ("1%", 0.01, 0.0),
    ("10%", 0.1, 0.0),
    ("10% (doc lists)", 0.2, 0.5),
    ("50%", 0.5, 0.0),
    ("100%", 1.0, 0.0),
]


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
    args = parser.parse_args()

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        started = time.perf_counter()
        vectors, query_pool = (None, None)
        if args.vectors == "scifact":
            vectors, query_pool = scifact_vectors(Path(args.dataset), chunks=args.chunks, seed=args.seed)
        version, cases = build_corpus(chunks=args.chunks, rng=random.Random(args.seed), vectors=vectors)  # noqa: S311 - a reproducible sample, not a secret
        print(f"corpus: {args.chunks} chunks, built in {time.perf_counter() - started:.0f}s", flush=True)
        rows = measure(
            version, cases, queries=args.queries, rng=np.random.default_rng(args.seed), query_pool=query_pool
        )
        for name, values in (item.split("=", 1) for item in args.sweep.split(";") if item):
            for value in values.split(","):
                print(f"--- {name} = {value}", flush=True)
                with override_settings(**{name: int(value)}):
                    measure(
                        version,
                        cases,
                        queries=args.queries,
                        rng=np.random.default_rng(args.seed),
                        query_pool=query_pool,
                    )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    table = render(rows, chunks=args.chunks, queries=args.queries, vectors=args.vectors)
    print(table)
    if not args.no_write:
        record(table, vectors=args.vectors)


def scifact_vectors(dataset: Path, *, chunks: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Chunk vectors mixed from real abstract embeddings, and the real query embeddings."""
    import json

    from index_versions.embedding import embed_texts

    if not (dataset / "corpus.jsonl").exists():
        sys.exit(f"no BEIR dataset at {dataset}; pass --dataset DIR or --vectors random")
    started = time.perf_counter()
    with open(dataset / "corpus.jsonl") as corpus:
        abstracts = [f"{row['title']}. {row['text']}" for row in map(json.loads, corpus)]
    with open(dataset / "queries.jsonl") as queries:
        questions = [row["text"] for row in map(json.loads, queries)]
    # Embedding 5,000 abstracts takes minutes on two cores: keep them between runs.
    cache = Path(os.environ["RAG_DATA_DIR"]) / f"scifact-{len(abstracts)}-{len(questions)}-minilm.npz"
    if cache.exists():
        cached = np.load(cache)
        base, query_pool = cached["base"], cached["queries"]
    else:
        base = np.asarray(embed_texts(abstracts), dtype=np.float32)
        query_pool = np.asarray(embed_texts(questions), dtype=np.float32)
        np.savez(cache, base=base, queries=query_pool)
    print(
        f"embedded {len(abstracts)} abstracts and {len(questions)} queries in {time.perf_counter() - started:.0f}s",
        flush=True,
    )
    rng = np.random.default_rng(seed)
    first, second = rng.integers(len(base), size=chunks), rng.integers(len(base), size=chunks)
    share = rng.uniform(0.5, 1.0, size=(chunks, 1)).astype(np.float32)
    vectors = share * base[first] + (1 - share) * base[second]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, query_pool


def build_corpus(*, chunks: int, rng: random.Random, vectors: np.ndarray | None = None):
    n_docs = chunks // CHUNKS_PER_DOC
    n_sources = n_docs // DOCS_PER_SOURCE
    pipeline = Pipeline.objects.create(key="bench", chunker={}, embedding_model=BENCH_MODEL, dimensions=DIMS)
    version = IndexVersion.objects.create(
        pipeline=pipeline, state=IndexVersion.State.ACTIVE, counts={"documents": n_docs, "chunks": chunks}
    )
    sources = Source.objects.bulk_create(
        [Source(name=f"bench-{i}", kind=Source.Kind.FOLDER, config={}) for i in range(n_sources)], batch_size=2000
    )
    documents = Document.objects.bulk_create(
        [
            Document(source=source, external_id=f"{source.pk}-{j}", title=f"doc {j}", uri="", content_hash="x")
            for source in sources
            for j in range(DOCS_PER_SOURCE)
        ],
        batch_size=5000,
    )
    revisions = DocumentRevision.objects.bulk_create(
        [DocumentRevision(document=d, content_hash="x", title=d.title, uri="", content="") for d in documents],
        batch_size=5000,
    )
    VersionDocument.objects.bulk_create(
        [
            VersionDocument(version=version, document=d, revision=r, source_id=d.source_id)
            for d, r in zip(documents, revisions, strict=True)
        ],
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        # Loading into a live HNSW index is slow: drop it, load, and rebuild it from its own definition.
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [HNSW_INDEX])
        index_definition = cursor.fetchone()[0]
        cursor.execute(f"DROP INDEX {HNSW_INDEX}")
        if vectors is None:
            # Gaussian coordinates, normalised: uniform on the sphere, the hard case for HNSW.
            cursor.execute(
                f"""
                INSERT INTO {Embedding._meta.db_table} (model, text_hash, dimensions, vector)
                SELECT %s, 'h' || i, {DIMS},
                       l2_normalize(
                           (SELECT array_agg(random_normal()) FROM generate_series(1, {DIMS}) WHERE i >= 0)::vector
                       )
                FROM generate_series(0, %s - 1) i
                """,
                [BENCH_MODEL, chunks],
            )
        else:
            with cursor.copy(
                f"COPY {Embedding._meta.db_table} (model, text_hash, dimensions, vector) FROM STDIN"
            ) as copy:
                for i, vector in enumerate(vectors):
                    copy.write_row((BENCH_MODEL, f"h{i}", DIMS, vector_literal(vector)))
        cursor.execute(f"SELECT id FROM {Embedding._meta.db_table} ORDER BY id")
        embedding_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            """
            INSERT INTO index_versions_chunk (revision_id, pipeline_id, ordinal, section, text, embedding_id)
            SELECT (%s::bigint[])[n / %s + 1], %s, n %% %s, '', 'chunk ' || n, (%s::bigint[])[n + 1]
            FROM generate_series(0, %s - 1) n
            """,
            [[r.pk for r in revisions], CHUNKS_PER_DOC, pipeline.pk, CHUNKS_PER_DOC, embedding_ids, chunks],
        )
        started = time.perf_counter()
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute(index_definition)
        print(f"HNSW index built in {time.perf_counter() - started:.0f}s", flush=True)
        cursor.execute("ANALYZE")

    everyone_else = Group.objects.create(name="bench-readers")
    cases = []
    for label, source_share, hidden_share in ROWS:
        user = User.objects.create(username=f"bench-{label}")
        granted = rng.sample(sources, max(1, round(source_share * n_sources)))
        SourceGrant.objects.bulk_create([SourceGrant(source=s, user=user) for s in granted])
        granted_ids = {s.pk for s in granted}
        visible_docs = [d.pk for d in documents if d.source_id in granted_ids]
        if hidden_share:
            hidden = set(rng.sample(visible_docs, round(hidden_share * len(visible_docs))))
            # Hidden from this user only: every other bench user is in the listed group.
            DocumentAccessList.objects.bulk_create(
                [DocumentAccessList(document_id=pk, principals=["group:bench-readers"]) for pk in hidden]
            )
            visible_docs = [pk for pk in visible_docs if pk not in hidden]
        cases.append((label, user, visible_docs))
        if not hidden_share:
            user.groups.add(everyone_else)
    return version, cases


def exact_nearest(version: IndexVersion, visible_docs: list[int], vector: str) -> list[int]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(
            f"""
            SELECT c.id
            FROM {VersionDocument._meta.db_table} vd
            JOIN index_versions_chunk c ON c.revision_id = vd.revision_id
            JOIN {Embedding._meta.db_table} e ON e.id = c.embedding_id
            WHERE vd.version_id = %s AND vd.document_id = ANY(%s)
            ORDER BY e.vector::vector({DIMS}) <=> %s::vector({DIMS}), c.id
            LIMIT %s
            """,
            [version.pk, visible_docs, vector, K],
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


def record(table: str, *, vectors: str) -> None:
    """Replace this benchmark's section of docs/benchmarks.md (other sections stay as they are)."""
    path = BASE_DIR / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n\nMeasured on the development machine (2 cores).\n"
    section = SECTION if vectors == "scifact" else RANDOM_SECTION
    flag = "" if vectors == "scifact" else " --vectors random"
    body = (
        f"{section}\n\nCommand: `.venv/bin/python bench/acl_recall.py{flag}` "
        f"(run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC). Recall is against exact filtered search; "
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
    print(f"recorded in {path.relative_to(BASE_DIR)}")


if __name__ == "__main__":
    main()
