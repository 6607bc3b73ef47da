"""Embedding backends side by side: chunks/s and agreement with the reference (torch fp32) on the same texts.

    .venv/bin/python bench/backends.py [--dataset ../shared/datasets/scifact] [--texts 500]
    .venv/bin/python bench/backends.py --smoke   # seconds: a few generated texts, torch and onnx fp32

Each backend/precision pair of ``index_versions.embedding`` (its ONNX export made
first, under RAG_DATA_DIR/models, outside the timing) encodes the same texts (the
dataset's abstracts as "title, blank line, text", in batches of
``EMBEDDING_BATCH_SIZE``); the table gives chunks/s, the speed-up over torch fp32
and the cosine of each vector with the reference one (mean and worst). Retrieval
quality per backend is ``manage.py evaluate`` with ``EMBEDDING_BACKEND`` set.

A second table embeds the dataset's queries one at a time with
``EMBEDDING_QUERY_THREADS`` threads, as a web process does (p50 / p95 ms): what
``EMBEDDING_QUERY_BACKEND=onnx`` buys a search, and the worst difference of each
query vector from the reference one.
"""

import argparse
import json
import os
import time
from pathlib import Path

from benchsetup import ROOT, django_setup

django_setup(data_dir="bench-backends")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from benchdata import natural_queries, queries_read  # noqa: E402
from django.conf import settings  # noqa: E402

from index_versions import embedding  # noqa: E402

PAIRS = [("torch", "fp32"), ("onnx", "fp32"), ("onnx", "int8"), ("openvino", "fp32"), ("openvino", "int8")]


def texts_read(dataset: Path, count: int) -> list[str]:
    texts = []
    with open(dataset / "corpus.jsonl", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            texts.append(f"{row.get('title') or ''}\n\n{row.get('text') or ''}")
            if len(texts) >= count:
                break
    return texts


def queries_embed(queries: list[str], pairs) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.EMBEDDING_QUERY_THREADS)
    print(f"\n{len(queries)} queries, one at a time, {settings.EMBEDDING_QUERY_THREADS} thread(s):\n")
    print("| backend | precision | p50 ms | p95 ms | largest difference from torch fp32 |")
    print("| --- | --- | ---: | ---: | ---: |")
    reference = None
    for backend, precision in pairs:
        identity = embedding.ModelSpec(embedding.DEFAULT_MODEL_NAME, backend, precision).identity
        embedding._load.cache_clear()  # the sessions take their thread count when they load
        for query in queries[:5]:
            embedding.embed_texts([query], model=identity)
        vectors, latencies = [], []
        for query in queries:
            started = time.perf_counter()
            vectors.append(embedding.embed_texts([query], model=identity)[0])
            latencies.append((time.perf_counter() - started) * 1000)
        vectors = np.array(vectors)
        reference = vectors if reference is None else reference
        print(
            f"| {backend} | {precision} | {np.percentile(latencies, 50):.1f} | {np.percentile(latencies, 95):.1f} "
            f"| {np.abs(vectors - reference).max():.1e} |",
            flush=True,
        )
    torch.set_num_threads(threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "datasets" / "scifact")
    parser.add_argument("--texts", type=int, default=500)
    parser.add_argument("--smoke", action="store_true", help="seconds: 8 generated texts, torch and onnx fp32")
    args = parser.parse_args()
    if args.smoke:
        texts = [f"Study {n} measured the effect of sleep on {n * 3} patients." for n in range(8)]
        pairs = PAIRS[:2]
    else:
        texts, pairs = texts_read(args.dataset, args.texts), PAIRS
    load = os.getloadavg()
    print(f"{len(texts)} texts; {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    reference, rates = None, {}
    print("\n| backend | precision | chunks/s | vs torch fp32 | cosine with fp32: mean / worst |")
    print("| --- | --- | ---: | ---: | ---: |")
    for backend, precision in pairs:
        identity = embedding.ModelSpec(embedding.DEFAULT_MODEL_NAME, backend, precision).identity
        encoder = embedding.encoder(identity)  # exported and loaded outside the timing
        encoder.encode(texts[:8], batch_size=settings.EMBEDDING_BATCH_SIZE)
        started = time.perf_counter()
        vectors = np.array(embedding.embed_texts(texts, model=identity))
        rates[identity] = len(texts) / (time.perf_counter() - started)
        reference = vectors if reference is None else reference
        cosines = (vectors * reference).sum(axis=1)
        speedup = rates[identity] / next(iter(rates.values()))
        print(
            f"| {backend} | {precision} | {rates[identity]:.1f} | {speedup:.2f}x | "
            f"{cosines.mean():.4f} / {cosines.min():.4f} |",
            flush=True,
        )
    if args.smoke:
        queries = texts
    else:
        questions = queries_read(args.dataset)
        queries = [questions[n] for n in natural_queries(questions)][:100]
    queries_embed(queries, pairs)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.smoke:
        print("smoke: ok")


if __name__ == "__main__":
    main()
