"""``manage.py evaluate --dataset DIR``: nDCG@10, recall@10/100 and MRR@10 per search mode."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from retrieval.evaluation import beir, metrics
from retrieval.reranking import rerank_available

METRICS = ("nDCG@10", "recall@10", "recall@100", "MRR@10")


class Command(BaseCommand):
    help = (
        "Load a BEIR dataset (corpus.jsonl, queries.jsonl, qrels.tsv) into a dedicated source and "
        "version (built, not activated), search every judged query through the API's selector, "
        "and print nDCG@10, recall@10, recall@100 and MRR@10 per mode."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="folder of a BEIR-format dataset (read in place)")
        parser.add_argument(
            "--modes",
            default=None,
            help="comma-separated: hybrid,vector,keyword,hybrid+rerank (default: all, hybrid+rerank only when "
            "RERANK_MODEL is set)",
        )
        parser.add_argument("--limit-queries", type=int, default=None, help="evaluate only the first N queries")
        parser.add_argument(
            "--max-tokens",
            type=int,
            default=None,
            help="chunk size of the evaluation pipeline, in model tokens (default: CHUNK_MAX_TOKENS, 0 = model window)",
        )
        parser.add_argument("--overlap-tokens", type=int, default=None, help="default: CHUNK_OVERLAP_TOKENS")
        parser.add_argument(
            "--k",
            type=int,
            default=100,
            help="chunks each search asks for (default 100, which recall@100 needs); 10 scores what an API "
            "caller asking k=10 gets, whose hybrid legs are HYBRID_CANDIDATES deep",
        )

    def handle(self, *args, dataset, modes, limit_queries, max_tokens, overlap_tokens, k, **options):
        path = Path(dataset)
        if not 1 <= k <= settings.SEARCH_MAX_K:
            raise CommandError(f"--k must be between 1 and SEARCH_MAX_K ({settings.SEARCH_MAX_K})")
        if not (path / "corpus.jsonl").is_file() or not (path / "queries.jsonl").is_file():
            raise CommandError(f"{path} is not a BEIR dataset: corpus.jsonl and queries.jsonl are needed")
        modes = [mode.strip() for mode in (modes or ",".join(beir.default_modes())).split(",") if mode.strip()]
        unknown = set(modes) - set(beir.MODES)
        if unknown:
            raise CommandError(f"unknown mode(s) {sorted(unknown)}; choose from {', '.join(beir.MODES)}")
        if beir.RERANK_MODE in modes and not rerank_available():
            raise CommandError(f"{beir.RERANK_MODE} needs a reranker: set RERANK_MODEL to a local CrossEncoder")
        data = beir.dataset_read(path)
        with tqdm(total=len(data.corpus), desc="index corpus", unit="doc") as bar:
            version = beir.evaluation_corpus_load(
                dataset=data,
                max_tokens=settings.CHUNK_MAX_TOKENS if max_tokens is None else max_tokens,
                overlap_tokens=settings.CHUNK_OVERLAP_TOKENS if overlap_tokens is None else overlap_tokens,
                progress=bar.update,
            )
        user = beir.evaluation_user()
        query_ids = sorted(data.queries, key=lambda q: (len(q), q))[:limit_queries]
        table = {}
        for mode in modes:
            totals = dict.fromkeys(METRICS, 0.0)
            for query_id in tqdm(query_ids, desc=f"search {mode}", unit="query"):
                ranked = beir.ranked_documents(
                    user=user, version=version, query=data.queries[query_id], mode=mode, depth=k
                )
                for name, value in metrics.scores(ranked, data.qrels[query_id]).items():
                    totals[name] += value
            table[mode] = {name: total / max(len(query_ids), 1) for name, total in totals.items()}
        self.stdout.write(
            f"\n{data.name}: {len(data.corpus)} documents, {len(query_ids)} queries, index version {version.pk}, "
            f"k={k}\n"
        )
        self.stdout.write("| mode | " + " | ".join(METRICS) + " |")
        self.stdout.write("| --- |" + " ---: |" * len(METRICS))
        for mode, row in table.items():
            self.stdout.write(f"| {mode} | " + " | ".join(f"{row[name]:.3f}" for name in METRICS) + " |")
