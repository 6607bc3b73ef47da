"""Chunking and embedding throughput on a real corpus, and what the chunker makes of it.

    .venv/bin/python bench/chunking.py --dataset /work/shared/datasets/scifact [--documents 1000]
    .venv/bin/python bench/chunking.py --smoke   # seconds, on a tiny fake BEIR folder

Reads a BEIR corpus in place (nothing is copied), chunks every document with the
default pipeline's chunker (model tokens, title and section path as context) and
prints, in one run:
  1. chunker throughput (documents/s) and chunk sizes in tokens (all within the window);
  2. embedding throughput (chunks/s) on ``EMBEDDING_DEVICE`` for batch sizes 1 and
     ``EMBEDDING_BATCH_SIZE``, and their ratio (the gain from batching);
  3. the share of embedding time the chunker adds.
No database is needed.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchsetup import django_setup

django_setup()

from benchdata import fake_beir_dataset  # noqa: E402
from django.conf import settings  # noqa: E402

from index_versions import embedding  # noqa: E402
from index_versions.chunking import chunk_text  # noqa: E402

# --smoke: enough abstracts for one cut past the window and a few short ones; the embedding is the time.
SMOKE_DOCUMENTS = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", help="a BEIR folder with corpus.jsonl")
    parser.add_argument("--documents", type=int, default=1000, help="documents to chunk and embed")
    parser.add_argument("--overlap", type=int, default=settings.CHUNK_OVERLAP_TOKENS)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="seconds: a tiny fake BEIR folder instead of --dataset; fails on a chunk over the window",
    )
    args = parser.parse_args()
    if args.smoke:
        with tempfile.TemporaryDirectory() as folder:
            dataset = fake_beir_dataset(Path(folder) / "beir", documents=SMOKE_DOCUMENTS)
            within = measure(dataset, documents=SMOKE_DOCUMENTS, overlap=args.overlap)
        if not within:
            sys.exit("a chunk exceeds the model's window")
        print("smoke: ok")
    elif args.dataset is None:
        parser.error("--dataset is required (or --smoke)")
    else:
        measure(Path(args.dataset), documents=args.documents, overlap=args.overlap)


def measure(dataset: Path, *, documents: int, overlap: int) -> bool:
    """Print the three figures; returns whether every chunk fits the model's window."""
    corpus = []
    with open(dataset / "corpus.jsonl", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            corpus.append((row.get("title") or "", row.get("text") or ""))
            if len(corpus) == documents:
                break
    model = embedding.model_name()
    window = settings.CHUNK_MAX_TOKENS or embedding.max_input_tokens(model)
    count, windows = embedding.token_counter(model), embedding.token_windows(model)

    started = time.perf_counter()
    chunks = [
        chunk
        for title, text in corpus
        for chunk in chunk_text(
            text, title=title, max_tokens=window, overlap_tokens=overlap, count_tokens=count, windows=windows
        )
    ]
    chunking_s = time.perf_counter() - started
    sizes = [count(chunk.embedding_text) for chunk in chunks]
    print(f"corpus: {len(corpus)} documents of {dataset}; model {model}, window {window} tokens")
    print(
        f"1. chunker: {len(corpus) / chunking_s:,.0f} documents/s; {len(chunks)} chunks "
        f"({len(chunks) / len(corpus):.2f} per document); tokens per chunk: median {statistics.median(sizes):.0f}, "
        f"max {max(sizes)} (window {window}: {'within' if max(sizes) <= window else 'EXCEEDED'})"
    )

    texts = [chunk.embedding_text for chunk in chunks]
    encoder = embedding.encoder(model)
    encoder.encode(texts[:8], batch_size=8)  # warm-up
    rates = {}
    for batch_size in (1, settings.EMBEDDING_BATCH_SIZE):
        sample = texts[: 200 if batch_size == 1 else 1000]
        started = time.perf_counter()
        encoder.encode(sample, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
        rates[batch_size] = len(sample) / (time.perf_counter() - started)
    batched = rates[settings.EMBEDDING_BATCH_SIZE]
    print(
        f"2. embedding on {settings.EMBEDDING_DEVICE}: {rates[1]:.1f} chunks/s one at a time, "
        f"{batched:.1f} chunks/s in batches of {settings.EMBEDDING_BATCH_SIZE}: ratio {batched / rates[1]:.2f}x"
    )
    embedding_s = len(chunks) / batched
    print(
        f"3. chunking adds {100 * chunking_s / (chunking_s + embedding_s):.1f}% to chunk+embed time "
        f"({chunking_s:.1f} s chunking vs {embedding_s:.1f} s embedding, estimated from the batched rate)"
    )
    return max(sizes) <= window


if __name__ == "__main__":
    main()
