"""The keyword leg's two plans on a real collection: nDCG@10, agreement and latency, exact versus bounded.

    .venv/bin/python bench/keyword_plans.py [--dataset ../shared/datasets/scifact] [--per-lexeme 200] [--smoke]

One chunk per abstract (title and text, as the BEIR corpus gives them, read in place
and never copied), stored random vectors so no model time is spent, one version, a
user granted the source. Every judged query goes through ``retrieval.search.search``
in keyword mode twice: with the exact plan forced (every visible chunk scored) and
with the bounded plan forced (each query lexeme's best ``KEYWORD_CANDIDATES_PER_LEXEME``
postings). Prints nDCG@10 of each, how often the bounded top 10 equals the exact
one, and p50/p95 of each. Nothing is recorded; ``docs/benchmarks.md`` quotes a run.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from benchsetup import ROOT, django_setup

django_setup(data_dir="bench-keyword")

from benchdata import (  # noqa: E402
    documents_add,
    fake_beir_dataset,
    random_unit_vectors,
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
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from acl.services import grant_create  # noqa: E402
from retrieval.evaluation.beir import dataset_read  # noqa: E402
from retrieval.evaluation.metrics import ndcg_at  # noqa: E402
from retrieval.search import SearchMode, search  # noqa: E402
from sources.models import Document  # noqa: E402

K = 10
PLANS = {"exact": 10**12, "bounded": 0}  # KEYWORD_EXACT_MAX_CHUNKS forcing each plan


def load(dataset):
    """The corpus as one source of one-chunk documents; returns the reader and ``{document id: corpus id}``."""
    ids = list(dataset.corpus)
    texts = [f"{title}\n\n{text}".strip() for title, text in dataset.corpus.values()]
    pipeline = stored_vectors_pipeline()
    source = source_add(dataset.name)
    with vector_index_rebuilt_after(dimensions=pipeline.dimensions):
        revisions = documents_add(source, len(texts), texts=texts)
        vectors = random_unit_vectors(len(texts), pipeline.dimensions, seed=5)
        stored_chunks_add(pipeline=pipeline, revisions=revisions, vectors=vectors, texts=texts)
        version_build(pipeline=pipeline, revisions_by_source={source.pk: {r.document_id: r.pk for r in revisions}})
    reader = get_user_model().objects.create_user(username="bench-keyword")
    grant_create(source=source, user=reader)
    statistics_settle()
    external = dict(Document.objects.filter(source=source).values_list("pk", "external_id"))
    return reader, {pk: ids[int(external_id.removeprefix("doc-"))] for pk, external_id in external.items()}


def measure(dataset, reader, corpus_id: dict[int, str], *, per_lexeme: int) -> dict:
    ranked, latencies = {plan: [] for plan in PLANS}, {plan: [] for plan in PLANS}
    queries = list(dataset.queries.items())
    for plan, threshold in PLANS.items():
        with override_settings(KEYWORD_EXACT_MAX_CHUNKS=threshold, KEYWORD_CANDIDATES_PER_LEXEME=per_lexeme):
            for _, text in queries[:5]:
                search(user=reader, query=text, k=K, mode=SearchMode.KEYWORD)  # warm caches and connection
            for _, text in queries:
                started = time.perf_counter()
                outcome = search(user=reader, query=text, k=K, mode=SearchMode.KEYWORD)
                latencies[plan].append((time.perf_counter() - started) * 1000)
                ranked[plan].append([corpus_id[hit.document_id] for hit in outcome.results])
    figures = {"queries": len(queries), "per_lexeme": per_lexeme}
    for plan in PLANS:
        figures[f"{plan}_ndcg"] = statistics.mean(
            ndcg_at(found, dataset.qrels[qid], K) for (qid, _), found in zip(queries, ranked[plan], strict=True)
        )
        figures[f"{plan}_p50"] = statistics.median(latencies[plan])
        figures[f"{plan}_p95"] = float(np.percentile(latencies[plan], 95))
    figures["same_top10"] = statistics.mean(
        float(a == b) for a, b in zip(ranked["exact"], ranked["bounded"], strict=True)
    )
    figures["overlap_top10"] = statistics.mean(
        len(set(a) & set(b)) / max(len(set(a)), 1) for a, b in zip(ranked["exact"], ranked["bounded"], strict=True)
    )
    return figures


def explain(reader, query: str, *, per_lexeme: int) -> None:
    """Each plan's statement for ``query`` under EXPLAIN ANALYZE, with the search's own planner options."""
    for plan, threshold in PLANS.items():
        forced = override_settings(KEYWORD_EXACT_MAX_CHUNKS=threshold, KEYWORD_CANDIDATES_PER_LEXEME=per_lexeme)
        with forced, CaptureQueriesContext(connection) as queries:
            search(user=reader, query=query, k=K, mode=SearchMode.KEYWORD)
        options, statement = (
            q["sql"] for q in queries.captured_queries if "set_config" in q["sql"] or "@@" in q["sql"]
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(options)
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement)
            print(f"--- {plan}\n" + "\n".join(row[0] for row in cursor.fetchall()))
            transaction.set_rollback(True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(ROOT.parent / "shared" / "datasets" / "scifact"))
    parser.add_argument("--per-lexeme", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="a tiny fake dataset")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each plan for the first query")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = fake_beir_dataset(Path(scratch) / "fake") if args.smoke else Path(args.dataset)
        dataset = dataset_read(path)
        with scratch_database():
            reader, corpus_id = load(dataset)
            figures = measure(dataset, reader, corpus_id, per_lexeme=args.per_lexeme)
            if args.explain:
                explain(reader, next(iter(dataset.queries.values())), per_lexeme=args.per_lexeme)
    print(f"{dataset.name}: {len(dataset.corpus):,} one-chunk documents, {figures['queries']} judged queries")
    print(f"KEYWORD_CANDIDATES_PER_LEXEME = {figures['per_lexeme']}")
    print("| plan | nDCG@10 | p50 ms | p95 ms |\n| --- | ---: | ---: | ---: |")
    for plan in PLANS:
        print(
            f"| {plan} | {figures[f'{plan}_ndcg']:.4f} | {figures[f'{plan}_p50']:.1f} | {figures[f'{plan}_p95']:.1f} |"
        )
    print(f"bounded top 10 identical to exact: {figures['same_top10']:.3f} of queries")
    print(f"bounded top 10 overlap with exact: {figures['overlap_top10']:.3f}")
    if args.smoke:
        print("smoke: ok")


if __name__ == "__main__":
    main()
