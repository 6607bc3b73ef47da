"""This project's sync beside LangChain's PGVector store on the same BEIR folder, one after the other.

    .venv/bin/python bench/peer_compare.py --dataset ../shared/datasets/scifact [--documents N] [--workers 2,4]
        [--backends torch,openvino,onnx:int8]
    .venv/bin/python bench/peer_compare.py --smoke   # seconds: a tiny corpus, the peer included (`make peer-venv`)

The peer runs in its own virtual environment (``.data/peer-venv``, made on the first
full run from bench/requirements-peer.txt; torch, sentence-transformers and the
packaged model come from the project's .venv), against a database of its own on
the same embedded PostgreSQL + pgvector (bench/benchpeer.py). The project side runs
on its own embedded servers (RAG_DATA_DIR, default .data/bench-peer), in a scratch
database: each document written as a Markdown file, one folder source, synced
through ``ingest.runner.sync_job_run`` (fetch, sandboxed parsing, the overlapped
process step, the version build), with ``EMBEDDING_BACKEND`` / ``EMBEDDING_PRECISION``
as set. Prints documents/s, chunks/s, the pipeline's chunks/s over bare ``encode``
of the same chunk texts (timed once right after the sync, and again after ``VACUUM
ANALYZE``, so that autovacuum of what the sync wrote does not slow the bound), search
p50/p95 per mode and nDCG@10 (a document ranks by its best chunk), and with
``--workers`` the same sync split over 2, 4... sources synced by as many processes
at once. ``--backends`` repeats the project side (sync, bare
``encode``, search, nDCG) once per backend[:precision], each in a fresh scratch database and
with its model loaded before any timing; the worker rows run for the first one only.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from benchsetup import ROOT, django_setup

django_setup(data_dir="bench-peer")

from benchdata import (  # noqa: E402
    chunks_forget,
    fake_beir_dataset,
    scratch_database,
    sources_folder,
    statistics_settle,
)
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import override_settings  # noqa: E402

from acl.models import SourceGrant  # noqa: E402
from index_versions import embedding  # noqa: E402
from index_versions.models import Chunk  # noqa: E402
from index_versions.services.pipelines import pipeline_for_sync  # noqa: E402
from ingest.runner import sync_job_run  # noqa: E402
from retrieval.evaluation import beir, metrics  # noqa: E402
from retrieval.search import SearchMode  # noqa: E402
from sources.models import Source, SyncJob  # noqa: E402
from sources.services.crud import source_create  # noqa: E402

PEER_VENV = ROOT / ".data" / "peer-venv"
PEER_REQUIREMENTS = ROOT / "bench" / "requirements-peer.txt"


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def peer_install() -> Path:
    """The peer's virtual environment, made once; it sees the project's packages after its own."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        ours = subprocess.run(
            [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        Path(site, "project-venv.pth").write_text(ours + "\n")
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", PEER_REQUIREMENTS],
            check=True,
        )
    return python


def peer_run(python: Path, data: beir.Dataset, ids: list[str], queries: list[str]) -> dict:
    """bench/benchpeer.py in the peer's environment, on a database of its own, dropped after.

    It gets exactly the project's documents and queries, and its rankings are scored
    here with the project's nDCG, so the two columns differ only in what they index.
    """
    name = "peer_compare"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        cursor.execute(f"CREATE DATABASE {name}")
    try:
        db = connection.settings_dict
        auth = db["USER"] + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
        host = quote(db.get("HOST") or "", safe="")
        port = f"&port={db['PORT']}" if db.get("PORT") else ""
        database_url = f"postgresql+psycopg://{auth}@/{name}?host={host}{port}"
        with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as given:
            json.dump(
                {
                    "documents": [[doc_id, *data.corpus[doc_id]] for doc_id in ids],
                    "queries": {query_id: data.queries[query_id] for query_id in queries},
                },
                given,
            )
            given.flush()
            command = [str(python), str(ROOT / "bench" / "benchpeer.py"), "--corpus", given.name]
            command += ["--database-url", database_url]
            env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
            out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(ROOT / "bench"))
        if out.returncode:
            sys.exit(f"the peer failed:\n{out.stderr[-3000:]}")
        peer = json.loads(out.stdout.strip().splitlines()[-1])
        peer["ndcg10"] = {
            mode: statistics.fmean(
                metrics.ndcg_at(ranked, data.qrels[query_id], 10) for query_id, ranked in by_query.items()
            )
            for mode, by_query in peer.pop("rankings").items()
        }
        return peer
    finally:
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def corpus_write(data: beir.Dataset, ids: list[str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for doc_id in ids:
        title, text = data.corpus[doc_id]
        (folder / f"{doc_id}.md").write_text(f"# {title or doc_id}\n\n{text}\n", encoding="utf-8")


def _backend_environment(backend: str) -> dict[str, str]:
    """``torch``, ``openvino`` or ``onnx:int8`` as the settings that choose it."""
    name, _, precision = backend.partition(":")
    return {"EMBEDDING_BACKEND": name, "EMBEDDING_PRECISION": precision}


def sync_one(database: str, job_id: int, threads: int) -> None:
    """A worker process of --workers: one sync in the scratch database; prints its seconds."""
    import torch

    torch.set_num_threads(threads)
    connection.settings_dict["NAME"] = database
    embedding.encoder(pipeline_for_sync().embedding_model)
    print("ready", flush=True)
    sys.stdin.readline()  # all workers start together, their model loaded
    started = time.perf_counter()
    sync_job_run(job_id=job_id)
    print(json.dumps({"seconds": time.perf_counter() - started}), flush=True)


def bare_seconds(encoder, texts: list[str]) -> float:
    """Seconds of one ``encode`` over every text: the model alone, sorted by length globally."""
    started = time.perf_counter()
    encoder.encode(texts, batch_size=settings.EMBEDDING_BATCH_SIZE, normalize_embeddings=True)
    return time.perf_counter() - started


def project_run(data: beir.Dataset, ids: list[str], queries: list[str], workers: list[int]) -> dict:
    """The sync, bare encode of its chunk texts, searches per mode; then the sync split over N processes."""
    figures: dict = {"documents": len(ids)}
    with tempfile.TemporaryDirectory(dir=sources_folder()) as folder:
        corpus_write(data, ids, Path(folder))
        source = source_create(name="corpus", kind=Source.Kind.FOLDER, config={"path": folder})
        job = SyncJob.objects.create(source=source)
        started = time.perf_counter()
        job = sync_job_run(job_id=job.pk)
        figures["seconds"] = time.perf_counter() - started
        assert job.status in (SyncJob.Status.SUCCEEDED, SyncJob.Status.PARTIAL), job.message
        pipeline = job.index_version.pipeline
        figures["chunks"] = job.index_version.counts["chunks"]
        figures["model"] = pipeline.embedding_model
        texts = [
            f"{context}\n\n{text}" if context else text
            for context, text in Chunk.objects.filter(pipeline=pipeline).values_list("context", "text")
        ]
        encoder = embedding.encoder(pipeline.embedding_model)
        figures["bare_seconds_after_sync"] = bare_seconds(encoder, texts)
        # Then once more with what the sync wrote vacuumed and analysed: autovacuum no longer shares the CPU.
        statistics_settle()
        figures["bare_seconds"] = bare_seconds(encoder, texts)
        figures["bare_chunks"] = len(texts)

        user = beir.evaluation_user()
        SourceGrant.objects.get_or_create(source=source, user=user)
        figures["search_ms"], figures["ndcg10"] = {}, {}
        for mode in SearchMode.ALL:
            latencies, scores = [], []
            for query_id in queries:
                began = time.perf_counter()
                ranked = beir.ranked_documents(
                    user=user, version=job.index_version, query=data.queries[query_id], mode=mode
                )
                latencies.append(1000 * (time.perf_counter() - began))
                ranked = [external_id.removesuffix(".md") for external_id in ranked]
                scores.append(metrics.ndcg_at(ranked, data.qrels[query_id], 10))
            figures["search_ms"][mode] = [percentile(latencies, 50), percentile(latencies, 95)]
            figures["ndcg10"][mode] = sum(scores) / max(len(scores), 1)

        figures["workers"] = {}
        for count in workers:
            chunks_forget(pipeline)  # nothing reused: every chunk embedded again
            jobs = []
            for n in range(count):
                part = Path(folder) / f"part{count}-{n}"
                corpus_write(data, ids[n::count], part)
                part_source = source_create(
                    name=f"part{count}-{n}", kind=Source.Kind.FOLDER, config={"path": str(part)}
                )
                jobs.append(SyncJob.objects.create(source=part_source).pk)
            threads = max(1, (os.cpu_count() or 1) // count)
            started = time.perf_counter()
            processes = [
                subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--sync-one",
                        connection.settings_dict["NAME"],
                        str(job_id),
                        str(threads),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                    env={
                        **os.environ,
                        "EMBEDDING_BACKEND": settings.EMBEDDING_BACKEND,
                        "EMBEDDING_PRECISION": settings.EMBEDDING_PRECISION,
                    },
                )
                for job_id in jobs
            ]
            for process in processes:
                process.communicate()
            seconds = time.perf_counter() - started
            chunks = Chunk.objects.filter(
                pipeline=pipeline, revision__document__source__name__startswith=f"part{count}-"
            )
            figures["workers"][count] = {"seconds": seconds, "chunks": chunks.count()}
    return figures


def _project_rows(project: dict) -> dict[str, str]:
    """One column of the table: the row name to this run's figure."""
    seconds = project["seconds"]
    bare = project["bare_chunks"] / project["bare_seconds"]
    rows = {
        "documents per second": f"{project['documents'] / seconds:.1f}",
        "chunks per second": f"{project['chunks'] / seconds:.1f}",
        "bare `encode` of the project's chunk texts": (
            f"{bare:.1f} chunks/s: the pipeline runs at {project['chunks'] / seconds / bare:.2f} of it"
        ),
    }
    if "bare_seconds_after_sync" in project:
        after_sync = project["bare_chunks"] / project["bare_seconds_after_sync"]
        rows["bare `encode` right after the sync, before VACUUM ANALYZE"] = f"{after_sync:.1f} chunks/s"
    for count, run in project["workers"].items():
        per_second = run["chunks"] / run["seconds"]
        rows[f"{count} sync workers, separate sources"] = f"{per_second:.1f} chunks/s = {per_second / bare:.2f} of bare"
    for mode in SearchMode.ALL:
        p50, p95 = project["search_ms"][mode]
        rows[f"search p50 / p95 (k=10), {mode}"] = f"{p50:.1f} / {p95:.1f} ms"
    for mode in SearchMode.ALL:
        rows[f"nDCG@10, {mode}"] = f"{project['ndcg10'][mode]:.3f}"
    return rows


def _peer_rows(peer: dict) -> dict[str, str]:
    rows = {
        "documents per second": f"{peer['documents'] / peer['seconds']:.1f}",
        "chunks per second": f"{peer['chunks'] / peer['seconds']:.1f}",
    }
    for mode, (p50, p95) in peer["search_ms"].items():
        rows[f"search p50 / p95 (k=10), {mode}"] = f"{p50:.1f} / {p95:.1f} ms"
    for mode, score in peer["ndcg10"].items():
        rows[f"nDCG@10, {mode}"] = f"{score:.3f}"
    return rows


def report(projects: dict[str, dict], peer: dict) -> None:
    """The table: the peer, then one column per backend; then each backend's documents/s over the peer's."""
    columns = {backend: _project_rows(project) for backend, project in projects.items()}
    theirs = _peer_rows(peer)
    names = list(dict.fromkeys(name for rows in columns.values() for name in rows))
    for backend, project in projects.items():
        print(
            f"\nproject ({backend}): {project['documents']} documents, {project['chunks']} chunks, "
            f"model {project['model']!r}"
        )
    print(f"peer: {peer['documents']} documents, {peer['chunks']} chunks (1,000 characters, 200 overlap)")
    header = " | ".join(f"this project, {backend}" for backend in columns)
    print(f"\n| | peer: LangChain PGVector | {header} |\n| --- | ---: |{' ---: |' * len(columns)}")
    for name in names:
        cells = " | ".join(rows.get(name, "") for rows in columns.values())
        print(f"| {name} | {theirs.get(name, '')} | {cells} |")
    peer_rate = peer["documents"] / peer["seconds"]
    for backend, project in projects.items():
        print(f"{backend}: {project['documents'] / project['seconds'] / peer_rate:.2f}x the peer's documents/s")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--sync-one":
        sync_one(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "datasets" / "scifact")
    parser.add_argument("--documents", type=int, default=None, help="the first N documents (default: all)")
    parser.add_argument("--queries", type=int, default=None, help="the first N judged queries (default: all)")
    parser.add_argument("--workers", default="2,4", help="comma-separated process counts for the scaling rows")
    parser.add_argument(
        "--backends", default="torch", help="comma-separated backend[:precision] list, e.g. torch,openvino,onnx:int8"
    )
    parser.add_argument("--smoke", action="store_true", help="seconds: a tiny generated corpus; installs nothing")
    parser.add_argument("--install-peer", action="store_true", help="make the peer's environment, then exit")
    args = parser.parse_args()
    if args.install_peer:
        peer_install()
        return
    load = os.getloadavg()
    print(
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"device {settings.EMBEDDING_DEVICE}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        dataset = fake_beir_dataset(Path(scratch) / "tiny", documents=12, queries=4) if args.smoke else args.dataset
        workers = [2] if args.smoke else [int(n) for n in args.workers.split(",") if n.strip()]
        data = beir.dataset_read(dataset)
        ids = list(data.corpus)[: args.documents]
        kept = set(ids)
        queries = [q for q in sorted(data.queries) if set(data.qrels[q]) & kept][: args.queries]
        python = PEER_VENV / "bin" / "python"
        if not args.smoke:
            python = peer_install()
        elif not python.exists():
            sys.exit(f"{PEER_VENV} is absent: `make peer-venv` makes it (bench-smoke does)")
        peer = peer_run(python, data, ids, queries)
        projects = {}
        for n, backend in enumerate(b.strip() for b in args.backends.split(",") if b.strip()):
            with override_settings(**_backend_environment(backend)), scratch_database():
                embedding.encoder(pipeline_for_sync().embedding_model)  # loaded first, as in a worker: untimed
                projects[backend] = project_run(data, ids, queries, workers if n == 0 else [])
    report(projects, peer)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.smoke:
        print("smoke: ok")


if __name__ == "__main__":
    main()
