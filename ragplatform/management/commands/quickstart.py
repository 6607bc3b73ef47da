"""``make run`` / ``make smoke``: the whole platform on one machine.

Migrates, loads the demo data (once), then runs the web server, one Celery worker
and Celery beat as child processes against the same database and broker, until
Ctrl-C. With ``--smoke`` it instead syncs the demo corpus through the worker,
searches as two demo users with different grants, checks that each saw exactly
what their grants allow, and exits 0 or 1.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from ingest.lifecycle import sync_job_request
from ragplatform import runtime
from ragplatform.demo.load import DEMO_SOURCES, DEMO_USERS, DemoData, demo_load

DEFAULT_DEMO_PASSWORD = "demo-password"  # noqa: S105 - printed to the operator; set DEMO_PASSWORD to change
SMOKE_QUERY = "How many weeks of parental leave do employees get?"


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and beat on the embedded (or configured) services."

    def add_arguments(self, parser):
        parser.add_argument("--smoke", action="store_true", help="sync, search as two users, check, exit")
        parser.add_argument("--port", type=int, default=None, help="web port (default: $PORT or 8000)")

    def handle(self, *args, smoke=False, port=None, **options):
        if port is None:
            port = int(os.environ["PORT"]) if os.environ.get("PORT") else (_free_port() if smoke else 8000)
        password = os.environ.get("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD
        self.children: list[tuple[str, subprocess.Popen]] = []
        # SIGTERM (from a supervisor or `kill`) shuts down as cleanly as Ctrl-C.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            demo = self._prepare(password)
            self._start_children(port)
            base_url = f"http://127.0.0.1:{port}"
            self._wait_healthy(base_url)
            if smoke:
                ok = self._smoke(base_url, password)
                if not ok:
                    raise CommandError("smoke test failed: a user saw something their grants do not allow")
                self.stdout.write(self.style.SUCCESS("smoke test passed"))
                return
            if demo.created:
                # First start: index the demo corpus so search works right away.
                for source in demo.sources:
                    sync_job_request(source=source)
                self.stdout.write("indexing the demo corpus in the background (see Sync jobs in the console)")
            self._banner(base_url, password)
            self._supervise()
        except KeyboardInterrupt:
            self.stdout.write("\nshutting down...")
        finally:
            self._stop_children()
            stopped = runtime.stop_embedded_services()
            if stopped:
                self.stdout.write(f"stopped embedded {', '.join(stopped)}")

    # --- boot -------------------------------------------------------------------
    def _prepare(self, password: str) -> DemoData:
        self.stdout.write("migrating...")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        demo = demo_load(password=password)
        self.stdout.write("demo data loaded" if demo.created else "demo data already present")
        return demo

    def _child_env(self) -> dict[str, str]:
        env = os.environ.copy()
        # Children attach to exactly the servers this process resolved.
        env["DATABASE_URL"] = runtime.database_url()
        env["REDIS_URL"] = settings.CELERY_BROKER_URL
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _start_children(self, port: int) -> None:
        python = sys.executable
        commands = {
            "web": [
                python, "-m", "gunicorn", "ragplatform.wsgi",
                "--bind", f"127.0.0.1:{port}",
                "--workers", os.environ.get("WEB_CONCURRENCY", "2"),
                "--timeout", "120",
                "--access-logfile", "-",
                "--control-socket", str(runtime.data_dir() / "gunicorn.ctl"),
            ],
            # Separate queues, separate pools: an interactive task never waits behind a long sync.
            "worker": [
                python, "-m", "celery", "-A", "ragplatform", "worker",
                "--queues", "sync",
                "--concurrency", os.environ.get("WORKER_CONCURRENCY", "1"),
                "--loglevel", "INFO",
                "--hostname", f"quickstart-{os.getpid()}@%h",
            ],
            "worker-interactive": [
                python, "-m", "celery", "-A", "ragplatform", "worker",
                "--queues", "interactive",
                "--concurrency", "1",
                "--loglevel", "INFO",
                "--hostname", f"quickstart-interactive-{os.getpid()}@%h",
            ],
            "beat": [
                python, "-m", "celery", "-A", "ragplatform", "beat",
                "--loglevel", "INFO",
                "--schedule", str(runtime.data_dir() / "celerybeat-schedule"),
            ],
        }  # fmt: skip
        env = self._child_env()
        for name, command in commands.items():
            self.children.append((name, subprocess.Popen(command, env=env, cwd=settings.BASE_DIR)))

    def _wait_healthy(self, base_url: str, timeout: float = 300) -> None:
        # Web workers load the embedding model before they answer (ragplatform.warmup): a minute on a busy CPU.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_children()
            try:
                with urllib.request.urlopen(f"{base_url}/api/v1/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        raise CommandError(f"the web server did not become healthy within {timeout:.0f}s")

    def _check_children(self) -> None:
        for name, process in self.children:
            if process.poll() is not None:
                raise CommandError(f"{name} exited with status {process.returncode}")

    def _supervise(self) -> None:
        while True:
            self._check_children()
            time.sleep(1)

    def _stop_children(self) -> None:
        for _, process in self.children:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, process in self.children:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.children = []

    def _banner(self, base_url: str, password: str) -> None:
        users = ", ".join(DEMO_USERS)
        self.stdout.write(
            self.style.SUCCESS(
                f"\nRAG platform is running.\n"
                f"  Admin console:  {base_url}/admin/\n"
                f"  REST API:       {base_url}/api/v1/  (docs: {base_url}/api/v1/docs)\n"
                f"  Demo logins:    {users}, password {password!r} (set DEMO_PASSWORD to change)\n"
                f"Press Ctrl-C to stop.\n"
            )
        )

    # --- smoke ------------------------------------------------------------------
    def _smoke(self, base_url: str, password: str) -> bool:
        api = _ApiClient(base_url)
        admin_token = api.token("admin", password)
        sources = api.call("GET", "/api/v1/sources", admin_token)["results"]
        demo_sources = {s["name"]: s["id"] for s in sources if s["name"] in DEMO_SOURCES}
        jobs = [api.call("POST", f"/api/v1/sources/{sid}/sync", admin_token)["job_id"] for sid in demo_sources.values()]
        self.stdout.write(f"syncing {len(jobs)} demo sources through the worker...")
        for job_id in jobs:
            job = api.wait_for_job(job_id, admin_token)
            self.stdout.write(f"  job {job_id}: {job['status']} {job['counts']} {job['message']}")
            if job["status"] not in ("succeeded", "partial"):
                return False

        ok = True
        for username in ("alice", "bob"):
            _, groups = DEMO_USERS[username]
            allowed = {demo_sources[name] for name, (_, group) in DEMO_SOURCES.items() if group in groups}
            response = api.call(
                "POST", "/api/v1/search", api.token(username, password), {"query": SMOKE_QUERY, "k": 10}
            )
            self.stdout.write(f"\n{username} searched {SMOKE_QUERY!r} on version {response['index_version']}:")
            for hit in response["results"]:
                self.stdout.write(f"  {hit['score']:.3f}  [source {hit['source_id']}] {hit['document_title']}")
            seen = {hit["source_id"] for hit in response["results"]}
            if not response["results"] or not seen <= allowed:
                self.stdout.write(self.style.ERROR(f"  expected results from sources {allowed} only, got {seen}"))
                ok = False
            hr = demo_sources["HR policies"]
            if (hr in allowed) != any(hit["source_id"] == hr for hit in response["results"]):
                self.stdout.write(self.style.ERROR("  the HR policy should be found by exactly the users granted it"))
                ok = False
        return ok


class _ApiClient:
    """The smoke test talks to the running server over HTTP, as an internal app would."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def call(self, method: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.base_url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", **({"Authorization": f"Token {token}"} if token else {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise CommandError(f"{method} {path} -> {exc.code}: {exc.read()[:500]!r}") from None

    def token(self, username: str, password: str) -> str:
        return self.call("POST", "/api/v1/auth/token", body={"username": username, "password": password})["token"]

    def wait_for_job(self, job_id: int, token: str, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.call("GET", f"/api/v1/sync-jobs/{job_id}", token)
            if job["status"] not in ("queued", "running"):
                return job
            time.sleep(0.5)
        raise CommandError(f"sync job {job_id} did not finish within {timeout:.0f}s")
