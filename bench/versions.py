"""Index versions: activation time vs corpus size, storage of a 1% change, embeddings of a revert.

    .venv/bin/python bench/versions.py [--part all|activation|storage] [--documents 1000]
    .venv/bin/python bench/versions.py --smoke   # seconds: both parts at tiny sizes

Runs on its own embedded servers (RAG_DATA_DIR, default .data/bench), each part in
a database made for it and dropped after it, with data made by ``bench/benchdata.py``
and the real sync. Prints, in one run:
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

from benchdata import (  # noqa: E402
    documents_add,
    random_unit_vectors,
    scratch_database,
    source_add,
    sources_folder,
    stored_chunks_add,
    stored_vectors_pipeline,
    vector_index_rebuilt_after,
    version_build,
    version_storage_bytes,
)

from index_versions.models import IndexVersion  # noqa: E402
from index_versions.services.activation import index_version_activate  # noqa: E402
from index_versions.services.building import index_version_revert_source  # noqa: E402
from ingest.runner import sync_job_run  # noqa: E402
from sources.models import Source, SyncJob  # noqa: E402
from sources.services.crud import source_create  # noqa: E402

CHUNKS_PER_DOCUMENT = 10
ACTIVATION_SIZES = (10_000, 100_000)
# --smoke: the same steps in seconds.
SMOKE_ACTIVATION_SIZES, SMOKE_ROUNDS, SMOKE_DOCUMENTS = (200, 1000), 6, 10


def time_activations(first: IndexVersion, second: IndexVersion, *, rounds: int, warmup: int) -> list[float]:
    timings = []
    for n in range(-warmup, rounds):
        target = first if n % 2 == 0 else second
        started = time.perf_counter()
        index_version_activate(version=target, reason="rollback")
        if n >= 0:
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def bench_activation(*, sizes: tuple[int, ...], rounds: int = 100, warmup: int = 10) -> dict[int, float]:
    """Two versions of one growing source (all documents, all but one), switched back and forth at each size."""
    pipeline = stored_vectors_pipeline()
    source = source_add("synthetic")
    revisions: dict[int, int] = {}
    medians = {}
    for total_chunks in sizes:
        missing = total_chunks // CHUNKS_PER_DOCUMENT - len(revisions)
        started = time.perf_counter()
        with vector_index_rebuilt_after(dimensions=pipeline.dimensions):
            added = documents_add(source, missing, start=len(revisions))
            vectors = random_unit_vectors(missing * CHUNKS_PER_DOCUMENT, pipeline.dimensions, seed=len(revisions))
            stored_chunks_add(pipeline=pipeline, revisions=added, vectors=vectors)
        revisions.update({revision.document_id: revision.pk for revision in added})
        print(
            f"loaded {total_chunks:,} chunks; HNSW index built, VACUUM ANALYZE: {time.perf_counter() - started:.0f} s"
        )
        first = version_build(pipeline=pipeline, revisions_by_source={source.pk: revisions})
        fewer = dict(list(revisions.items())[:-1])
        second = version_build(pipeline=pipeline, revisions_by_source={source.pk: fewer})
        timings = time_activations(first, second, rounds=rounds, warmup=warmup)
        medians[total_chunks] = statistics.median(timings)
        p95 = sorted(timings)[int(len(timings) * 0.95) - 1]
        print(
            f"activation at {total_chunks:>7,} chunks: median {medians[total_chunks]:6.2f} ms, "
            f"p95 {p95:6.2f} ms, max {max(timings):6.2f} ms ({len(timings)} switches)"
        )
    smallest, largest = sizes[0], sizes[-1]
    print(
        f"activation ratio {largest:,}/{smallest:,} chunks: {medians[largest] / medians[smallest]:.2f} "
        "(target < 1.5; both medians < 100 ms)"
    )
    return medians


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
    with tempfile.TemporaryDirectory(dir=sources_folder()) as folder:
        root = Path(folder)
        write_corpus(root, documents)
        source = source_create(name="corpus", kind="folder", config={"path": str(root)})
        empty = version_storage_bytes()
        started = time.perf_counter()
        base = sync(source).index_version
        base_seconds = time.perf_counter() - started
        base_bytes = version_storage_bytes() - empty
        changed = max(1, documents // 100)
        for n in range(changed):
            path = root / f"doc{n * 100:05}.md"
            path.write_text(path.read_text().replace("procedure", "revised procedure"))
        job = sync(source)
        added = version_storage_bytes() - empty - base_bytes
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
    parser.add_argument("--smoke", action="store_true", help="seconds: both parts at tiny sizes")
    args = parser.parse_args()
    print(f"data directory: {os.environ['RAG_DATA_DIR']}")
    # Each part in a database of its own, as if alone on the machine.
    if args.part in ("all", "activation"):
        with scratch_database():
            if args.smoke:
                bench_activation(sizes=SMOKE_ACTIVATION_SIZES, rounds=SMOKE_ROUNDS, warmup=2)
            else:
                bench_activation(sizes=ACTIVATION_SIZES)
    if args.part in ("all", "storage"):
        with scratch_database():
            bench_storage_and_revert(documents=SMOKE_DOCUMENTS if args.smoke else args.documents)
    if args.smoke:
        print("smoke: ok")


if __name__ == "__main__":
    main()
