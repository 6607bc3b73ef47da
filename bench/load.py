"""Load: 1, 8 and 32 clients over HTTP against gunicorn while a 2,000-document sync runs on the worker.

    .venv/bin/python bench/load.py [--clients 1,8,32] [--seconds 30] [--documents 2000] [--web-workers 2]
    .venv/bin/python bench/load.py --smoke   # seconds: 1 and 2 clients, 8 s each, a 20-document sync

Boots what ``make run`` boots, on its own embedded servers (RAG_DATA_DIR, default .data/bench-load) and a
database made for the run: gunicorn (``--web-workers`` processes), one Celery worker on the ``sync`` queue and
one on ``interactive`` (separate queues, separate pools, as in docker/compose.yaml), with a small corpus
already synced. It then requests a sync of ``--documents`` documents and, while it runs, drives Locust
(``bench/benchlocust.py``: search in each mode, answer, documents list, as one reader) at each client count.
Prints, per concurrency and endpoint: requests, errors, requests/s, p50/p95/p99 (ms); then whether the sync
finished and how long it took. Targets (issue 15): 0 errors; p95 at 8 clients within 3x of 1 client.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

from benchlocustrun import locust_run
from benchsetup import ROOT, django_setup

django_setup(data_dir="bench-load")

from benchdata import scratch_database  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from acl.models import SourceGrant  # noqa: E402
from ingest.runner import sync_job_run  # noqa: E402
from ragplatform import runtime  # noqa: E402
from ragplatform.celery import app  # noqa: E402
from sources.models import Source, SyncJob  # noqa: E402
from sources.services.crud import source_create  # noqa: E402

ENDPOINTS = ("search hybrid", "search vector", "search keyword", "answer", "documents list")


def _database_url() -> str:
    s = connection.settings_dict
    host = quote(s.get("HOST") or "", safe="")
    return (
        f"postgresql://{quote(s.get('USER') or '')}@{host}{':' + str(s['PORT']) if s.get('PORT') else ''}/{s['NAME']}"
    )


def _folder(name: str, count: int, offset: int = 0) -> Path:
    root = runtime.data_dir() / "sources" / f"load-{os.getpid()}-{name}"
    root.mkdir(parents=True, exist_ok=True)
    for i in range(offset, offset + count):
        (root / f"doc{i:05}.md").write_text(
            f"# Policy {i}\n\nTravel expenses, parental leave and security rules for team {i % 40}. "
            f"Budget changes are approved by desk {i % 13}; rollback of a deploy follows runbook {i % 7}.\n",
            encoding="utf-8",
        )
    return root


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"} if token else {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own server
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {}
    except OSError:
        return 0, {}


def _boot(env: dict, port: int, web_workers: int, log: Path) -> list[subprocess.Popen]:
    out = open(log, "w")  # noqa: SIM115 - open for the processes' lifetime
    python = sys.executable
    commands = [
        [python, "-m", "gunicorn", "ragplatform.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(web_workers),
         "--timeout", "120"],
        [python, "-m", "celery", "-A", "ragplatform", "worker", "--queues", "sync", "--concurrency", "1",
         "--hostname", f"load-sync-{os.getpid()}@%h", "--loglevel", "WARNING"],
        [python, "-m", "celery", "-A", "ragplatform", "worker", "--queues", "interactive", "--concurrency", "1",
         "--hostname", f"load-interactive-{os.getpid()}@%h", "--loglevel", "WARNING"],
    ]  # fmt: skip
    return [subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT) for command in commands]


def _wait(predicate, *, timeout: float, what: str, processes: list[subprocess.Popen], log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            raise SystemExit(f"a server exited while waiting for {what}:\n{log.read_text()[-3000:]}")
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"{what}: not within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.seconds, args.documents = "1,2", 8, 20
    levels = [int(n) for n in args.clients.split(",")]

    with scratch_database():
        reader = User.objects.create_user("load-reader", password=None)
        staff = User.objects.create_user("load-staff", password=None, is_staff=True, is_superuser=True)
        base = source_create(name="base", kind=Source.Kind.FOLDER, config={"path": str(_folder("base", 50))})
        big = source_create(
            name="big", kind=Source.Kind.FOLDER, config={"path": str(_folder("big", args.documents, 50))}
        )
        for source in (base, big):
            SourceGrant.objects.create(source=source, user=reader)
        sync_job_run(job_id=SyncJob.objects.create(source=base).pk)  # something to search from the start
        token, staff_token = (Token.objects.create(user=user).key for user in (reader, staff))

        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "REDIS_URL": settings.CELERY_BROKER_URL,
            "SOURCE_ALLOWED_PATHS": str(runtime.data_dir() / "sources"),
            "THROTTLE_RATE_USER": "1000000/min",  # the platform is measured, not its rate limit
            "LOG_LEVEL": "WARNING",
        }
        workdir = Path(tempfile.mkdtemp(prefix="rag-load-"))
        log = workdir / "servers.log"
        processes = _boot(env, port, args.web_workers, log)
        try:
            _wait(lambda: _get(f"{url}/api/v1/health")[0] == 200, timeout=300, what="gunicorn healthy",
                  processes=processes, log=log)  # fmt: skip
            _wait(lambda: len(app.control.ping(timeout=1.0)) >= 2, timeout=300, what="both workers",
                  processes=processes, log=log)  # fmt: skip
            request = urllib.request.Request(  # noqa: S310 - our own server
                f"{url}/api/v1/sources/{big.pk}/sync", method="POST", headers={"Authorization": f"Token {staff_token}"}
            )
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own server
                job_id = json.loads(response.read())["job_id"]
            sync_started = time.monotonic()
            print(f"load: gunicorn {args.web_workers} workers on {url}; sync of {args.documents} documents "
                  f"(job {job_id}) running on the sync worker; load {os.getloadavg()[0]:.2f}")  # fmt: skip
            print(f"{'clients':>7} {'endpoint':<16} {'requests':>8} {'errors':>6} {'req/s':>7} "
                  f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")  # fmt: skip
            for clients in levels:
                stats = locust_run(url, token, clients, args.seconds, workdir)
                job = SyncJob.objects.get(pk=job_id)
                for name in (*ENDPOINTS, "Aggregated"):
                    row = stats.get(name)
                    if row is None:
                        continue
                    print(f"{clients:>7} {name:<16} {row['Request Count']:>8} {row['Failure Count']:>6} "
                          f"{float(row['Requests/s']):>7.1f} {row['50%']:>7} {row['95%']:>7} "
                          f"{row['99%']:>7}")  # fmt: skip
                print(f"        sync: {job.status}, {job.progress_done}/{job.progress_total} documents; "
                      f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
            job = _wait(
                lambda: SyncJob.objects.filter(pk=job_id).exclude(status__in=SyncJob.IN_FLIGHT).first(),
                timeout=3600, what="the sync to finish", processes=processes, log=log,
            )  # fmt: skip
            print(f"sync: {job.status} in {time.monotonic() - sync_started:.0f} s from the request "
                  f"({job.counts.get('added')} added)")  # fmt: skip
            if job.status != SyncJob.Status.SUCCEEDED:
                raise SystemExit(f"the sync did not succeed: {job.message}")
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
            shutil.rmtree(workdir, ignore_errors=True)
            for name in ("base", "big"):
                shutil.rmtree(runtime.data_dir() / "sources" / f"load-{os.getpid()}-{name}", ignore_errors=True)
    if args.smoke:
        print("smoke: ok")


if __name__ == "__main__":
    main()
