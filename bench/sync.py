"""Sync: initial sync, unchanged re-sync, 1% change, and embedding throughput vs the bare model.

    .venv/bin/python bench/sync.py [--documents 2000]
    .venv/bin/python bench/sync.py --smoke   # seconds: one document of each kind

Runs on its own embedded servers (RAG_DATA_DIR, default .data/bench-sync), in a
database made for the run and dropped after it, through the same service the
worker runs (``ingest.runner.sync_job_run``), with the real parsers and the real
embedding model. Prints, in one run:
  1. the initial sync time of a generated corpus of mixed documents (Markdown,
     text, HTML, source code, DOCX and PDF written with python-docx and fpdf2);
  2. the re-sync time of the unchanged corpus (target < 2% of 1, and 0 embeddings);
  3. the sync time after changing 1% of the documents (target < 5% of 1);
  4. the pipeline's embedding throughput (chunk, deduplicate, encode, store) against
     the bare model's ``encode`` on the same chunk texts (target >= 90%).
"""

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

from benchsetup import django_setup

django_setup(data_dir="bench-sync")

from benchdata import chunks_forget, scratch_database, sources_folder  # noqa: E402
from django.conf import settings  # noqa: E402

from index_versions import embedding  # noqa: E402
from index_versions.models import Chunk, Embedding, IndexVersion  # noqa: E402
from index_versions.selectors import version_revisions  # noqa: E402
from index_versions.services.pipelines import pipeline_for_sync  # noqa: E402
from index_versions.services.storage import revision_chunks_ensure  # noqa: E402
from ingest.runner import sync_job_run  # noqa: E402
from sources.models import Source, SyncJob  # noqa: E402
from sources.services.crud import source_create  # noqa: E402

TOPICS = ["deploys", "on-call", "expenses", "security", "leave", "hiring", "billing", "networking"]
# --smoke: one document of each of the ten kinds write_document makes.
SMOKE_DOCUMENTS = 10


def paragraphs(n: int, edition: str) -> list[str]:
    topic = TOPICS[n % len(TOPICS)]
    return [
        f"Paragraph {p} of document {n} about {topic}{edition}. It explains the procedure for {topic} step by "
        f"step, who approves it, how long it takes and what to do when it fails (case {n}-{p})."
        for p in range(3)
    ]


def write_document(root: Path, n: int, edition: str = "") -> None:
    """Document ``n`` in one of six formats, chosen by ``n``."""
    from docx import Document as Docx
    from fpdf import FPDF

    topic, body = TOPICS[n % len(TOPICS)], paragraphs(n, edition)
    kind = n % 10
    if kind in (0, 1, 2, 3):
        (root / f"doc{n:05}.md").write_text(f"# Document {n}: {topic}\n\n" + "\n\n".join(body) + "\n")
    elif kind == 4:
        (root / f"doc{n:05}.txt").write_text(f"Document {n}: {topic}\n\n" + "\n\n".join(body) + "\n")
    elif kind in (5, 6):
        html = "".join(f"<p>{p}</p>" for p in body)
        (root / f"doc{n:05}.html").write_text(
            f"<html><head><title>Document {n}</title></head><body><nav><a href='/'>Home</a></nav>"
            f"<main><h1>{topic}</h1>{html}</main><script>track()</script></body></html>"
        )
    elif kind == 7:
        lines = "\n".join(f"    # {p}" for p in body)
        (root / f"doc{n:05}.py").write_text(
            f'"""Module {n}: {topic}."""\n\n\ndef step_{n}():\n{lines}\n    return {n}\n'
        )
    elif kind == 8:
        document = Docx()
        document.add_heading(f"Document {n}: {topic}", level=1)
        for p in body:
            document.add_paragraph(p)
        out = io.BytesIO()
        document.save(out)
        (root / f"doc{n:05}.docx").write_bytes(out.getvalue())
    else:
        pdf = FPDF()
        pdf.set_font("helvetica", size=11)
        pdf.add_page()
        pdf.multi_cell(0, 6, f"Document {n}: {topic}\n\n" + "\n\n".join(body))
        (root / f"doc{n:05}.pdf").write_bytes(bytes(pdf.output()))


def sync(source: Source) -> tuple[SyncJob, float]:
    job = SyncJob.objects.create(source=source)
    started = time.perf_counter()
    sync_job_run(job_id=job.pk)
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    return job, seconds


def throughput(revision_ids: list[int]) -> None:
    """Chunks per second: the pipeline's revision_chunks_ensure vs the model's encode on the same texts."""
    pipeline = pipeline_for_sync()
    texts = list(dict.fromkeys(Chunk.objects.filter(pipeline=pipeline).values_list("text", flat=True)))
    encoder = embedding.encoder(pipeline.embedding_model)
    encoder.encode(texts[:64], batch_size=settings.EMBEDDING_BATCH_SIZE, normalize_embeddings=True)  # warm up
    started = time.perf_counter()
    encoder.encode(texts, batch_size=settings.EMBEDDING_BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True)
    bare = len(texts) / (time.perf_counter() - started)
    # The pipeline again from scratch on the same revisions: chunks and embeddings dropped first.
    chunks_forget(pipeline)
    started = time.perf_counter()
    for start in range(0, len(revision_ids), 100):
        revision_chunks_ensure(revision_ids=revision_ids[start : start + 100], pipeline=pipeline)
    seconds = time.perf_counter() - started
    computed = Embedding.objects.count()
    piped = computed / seconds
    print(
        f"4. embedding throughput: pipeline {piped:.0f} chunks/s ({computed} chunks in {seconds:.1f} s, "
        f"in batches of 100 documents as the sync runs them) vs bare encode {bare:.0f} chunks/s "
        f"({len(texts)} texts) = {100 * piped / bare:.0f}% (target >= 90%)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument(
        "--smoke", action="store_true", help=f"seconds: {SMOKE_DOCUMENTS} documents; fails if one fails to sync"
    )
    args = parser.parse_args()
    print(f"data directory: {os.environ['RAG_DATA_DIR']}; {os.cpu_count()} CPUs; device {settings.EMBEDDING_DEVICE}")
    embedding.encoder()  # the model loads once per process, as in a worker; not part of any timing
    with scratch_database():
        failed = measure(documents=SMOKE_DOCUMENTS if args.smoke else args.documents)
    if args.smoke:
        if failed:
            sys.exit(f"{failed} documents failed to sync")
        print("smoke: ok")


def measure(*, documents: int) -> int:
    """Print the four figures; returns the number of documents the initial sync failed on."""
    with tempfile.TemporaryDirectory(dir=sources_folder()) as folder:
        root = Path(folder)
        for n in range(documents):
            write_document(root, n)
        source = source_create(name="corpus", kind="folder", config={"path": str(root), "include": ["*"]})

        first, initial = sync(source)
        print(
            f"1. initial sync: {documents} documents ({first.counts['added']} added, {first.counts['failed']} "
            f"failed), {first.index_version.counts['chunks']} chunks, "
            f"{first.index_version.counts['embeddings_computed']} embeddings: {initial:.1f} s"
        )

        embeddings, versions = Embedding.objects.count(), IndexVersion.objects.count()
        again, unchanged = sync(source)
        print(
            f"2. re-sync, unchanged: {unchanged:.2f} s = {100 * unchanged / initial:.2f}% of the initial sync "
            f"(target < 2%); {Embedding.objects.count() - embeddings} embeddings computed (target 0); "
            f"{IndexVersion.objects.count() - versions} new versions; message {again.message!r}"
        )

        changed = max(1, documents // 100)
        for n in range(0, documents, documents // changed):
            write_document(root, n, edition=" (revised)")
        third, delta = sync(source)
        print(
            f"3. after changing {changed} documents (1%): {delta:.2f} s = {100 * delta / initial:.2f}% of the "
            f"initial sync (target < 5%); {third.counts['updated']} updated, "
            f"{third.index_version.counts['embeddings_computed']} embeddings computed"
        )
        revision_ids = list(version_revisions(third.index_version).values())
    throughput(revision_ids)
    return first.counts["failed"]


if __name__ == "__main__":
    main()
