"""Index versions: activation time vs corpus size, storage of a 1% change, embeddings of a revert.

    .venv/bin/python bench/versions.py

Runs on its own embedded servers (RAG_DATA_DIR, default .data/bench), whose data it
replaces. Prints, in one run:
  1. activation time at 10,000 and at 100,000 chunks (targets: both < 100 ms, ratio < 1.5);
     these chunks carry stored random vectors, so the run takes minutes, not hours;
  2. storage added by a version after changing 1% of documents, through the real sync
     and the real embedding model (target: < 5% of the base);
  3. embeddings computed by a per-source revert (target: 0).
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchsetup import django_setup

django_setup(data_dir="bench")

import numpy as np  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from index_versions.models import Chunk, Embedding, IndexVersion, VersionDocument  # noqa: E402
from index_versions.services.activation import index_version_activate  # noqa: E402
from index_versions.services.building import index_version_build_for_source, index_version_revert_source  # noqa: E402
from index_versions.services.pipelines import pipeline_current  # noqa: E402
from index_versions.services.storage import vector_index_ensure  # noqa: E402
from ingest.runner import sync_job_run  # noqa: E402
from ragplatform import runtime  # noqa: E402
from sources.models import Document, DocumentRevision, Source, SyncJob  # noqa: E402
from sources.services.crud import source_create  # noqa: E402


def sources_folder() -> Path:
    """Under RAG_DATA_DIR/sources, one of the default SOURCE_ALLOWED_PATHS: folder sources may read there."""
    folder = runtime.data_dir() / "sources"
    folder.mkdir(exist_ok=True)
    return folder


STORAGE_TABLES = [
    DocumentRevision._meta.db_table,
    VersionDocument._meta.db_table,
    Chunk._meta.db_table,
    Embedding._meta.db_table,
]
CHUNKS_PER_DOCUMENT = 10


def reset() -> None:
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE sources_source, sources_document, sources_documentrevision, sources_syncjob, "
            "index_versions_indexversion, index_versions_versiondocument, index_versions_chunk, "
            "index_versions_embedding, index_versions_activation, acl_auditevent CASCADE"
        )


def add_synthetic_documents(source: Source, pipeline, count: int, offset: int) -> dict[int, int]:
    """``count`` documents of CHUNKS_PER_DOCUMENT chunks each, with random unit vectors."""
    rng = np.random.default_rng(offset)
    documents = Document.objects.bulk_create(
        [
            Document(
                source=source, external_id=f"doc-{offset + n}", title=f"Doc {offset + n}", uri="", content_hash="h"
            )
            for n in range(count)
        ]
    )
    revisions = DocumentRevision.objects.bulk_create(
        [DocumentRevision(document=d, content_hash="h", title=d.title, uri="", content="synthetic") for d in documents]
    )
    vectors = rng.standard_normal((count * CHUNKS_PER_DOCUMENT, pipeline.dimensions)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {Embedding._meta.db_table} (model, text_hash, dimensions, vector) FROM STDIN") as copy,
    ):
        for n, vector in enumerate(vectors):
            literal = "[" + ",".join(f"{x:.6f}" for x in vector) + "]"
            copy.write_row((pipeline.embedding_model, f"synthetic-{offset}-{n}", pipeline.dimensions, literal))
    embedding_ids = list(
        Embedding.objects.filter(text_hash__startswith=f"synthetic-{offset}-")
        .order_by("id")
        .values_list("id", flat=True)
    )
    Chunk.objects.bulk_create(
        [
            Chunk(
                revision=revision,
                pipeline=pipeline,
                ordinal=ordinal,
                text=f"chunk {ordinal} of {revision.title}",
                embedding_id=embedding_ids[i * CHUNKS_PER_DOCUMENT + ordinal],
            )
            for i, revision in enumerate(revisions)
            for ordinal in range(CHUNKS_PER_DOCUMENT)
        ],
        batch_size=5000,
    )
    return {revision.document_id: revision.pk for revision in revisions}


def time_activations(first: IndexVersion, second: IndexVersion, rounds: int = 100, warmup: int = 10) -> list[float]:
    timings = []
    for n in range(-warmup, rounds):
        target = first if n % 2 == 0 else second
        started = time.perf_counter()
        index_version_activate(version=target, reason="rollback")
        if n >= 0:
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def bench_activation() -> dict[int, float]:
    pipeline = pipeline_current()
    source = Source.objects.create(name="synthetic", kind="folder", config={"path": "/"})
    revisions: dict[int, int] = {}
    medians = {}
    for total_chunks in (10_000, 100_000):
        missing = total_chunks // CHUNKS_PER_DOCUMENT - len(revisions)
        # A bulk load builds the HNSW index once afterwards instead of inserting into it row by row.
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS embedding_vector_384_hnsw")
        revisions.update(add_synthetic_documents(source, pipeline, missing, offset=len(revisions)))
        started = time.perf_counter()
        vector_index_ensure(dimensions=pipeline.dimensions)
        with connection.cursor() as cursor:
            # Settle the table now, so autovacuum does not run during the timings.
            cursor.execute("VACUUM ANALYZE")
        print(f"loaded {total_chunks:,} chunks; HNSW index built in {time.perf_counter() - started:.0f} s")
        first = index_version_build_for_source(source_id=source.pk, revisions=revisions, pipeline=pipeline)
        fewer = dict(list(revisions.items())[:-1])
        second = index_version_build_for_source(source_id=source.pk, revisions=fewer, pipeline=pipeline)
        timings = time_activations(first, second)
        medians[total_chunks] = statistics.median(timings)
        p95 = sorted(timings)[int(len(timings) * 0.95) - 1]
        print(
            f"activation at {total_chunks:>7,} chunks: median {medians[total_chunks]:6.2f} ms, "
            f"p95 {p95:6.2f} ms, max {max(timings):6.2f} ms ({len(timings)} switches)"
        )
    ratio = medians[100_000] / medians[10_000]
    print(f"activation ratio 100k/10k: {ratio:.2f} (target < 1.5; both medians < 100 ms)")
    return medians


def storage_bytes() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(pg_total_relation_size(t::regclass)) FROM unnest(%s::text[]) t", [STORAGE_TABLES])
        return int(cursor.fetchone()[0])


def write_corpus(root: Path, documents: int, edition: str = "") -> None:
    topics = ["deploys", "on-call", "expenses", "security", "leave", "hiring", "billing", "networking"]
    for n in range(documents):
        topic = topics[n % len(topics)]
        body = "\n\n".join(
            f"Paragraph {p} of document {n} about {topic}{edition}. It explains the procedure for {topic} "
            f"step by step, who approves it, how long it takes and what to do when it fails (case {n}-{p})."
            for p in range(6)
        )
        (root / f"doc{n:05}.md").write_text(f"# Document {n}: {topic}\n\n{body}\n")


def sync(source: Source) -> SyncJob:
    job = SyncJob.objects.create(source=source)
    sync_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def bench_storage_and_revert(documents: int = 1000) -> None:
    reset()
    with tempfile.TemporaryDirectory(dir=sources_folder()) as folder:
        root = Path(folder)
        write_corpus(root, documents)
        source = source_create(name="corpus", kind="folder", config={"path": str(root)})
        empty = storage_bytes()
        started = time.perf_counter()
        base = sync(source).index_version
        base_seconds = time.perf_counter() - started
        base_bytes = storage_bytes() - empty
        changed = max(1, documents // 100)
        for n in range(changed):
            path = root / f"doc{n * 100:05}.md"
            path.write_text(path.read_text().replace("procedure", "revised procedure"))
        job = sync(source)
        added = storage_bytes() - empty - base_bytes
        print(
            f"\nbase version: {documents} documents, {base.counts['chunks']} chunks, "
            f"{base_bytes / 1e6:.1f} MB on disk, synced in {base_seconds:.1f} s"
        )
        print(
            f"after changing {changed} documents (1%): {job.counts['updated']} updated, "
            f"{job.index_version.counts['embeddings_computed']} embeddings computed, "
            f"storage added {added / 1e3:.0f} kB = {100 * added / base_bytes:.2f}% of the base (target < 5%); "
            f"the version's own count: {job.index_version.counts['bytes'] / 1e3:.0f} kB"
        )
        reverted = index_version_revert_source(source=source, version=base)
        print(
            f"revert of the source to the base version: {reverted.counts['embeddings_computed']} embeddings computed "
            f"(target 0), {reverted.counts['embeddings_reused']} reused"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["all", "activation", "storage"], default="all")
    parser.add_argument("--documents", type=int, default=1000, help="corpus size of the storage part")
    args = parser.parse_args()
    print(f"data directory: {os.environ['RAG_DATA_DIR']}")
    reset()
    if args.part in ("all", "activation"):
        bench_activation()
    if args.part in ("all", "storage"):
        bench_storage_and_revert(documents=args.documents)


if __name__ == "__main__":
    main()
