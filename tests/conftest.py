"""Shared fixtures. Everything here is real: the embedded PostgreSQL + pgvector,
Redis, the embedding model, and (for ``worker`` tests) a Celery worker process.

``make test`` points ``RAG_DATA_DIR`` at ``.data/test`` so the suite runs on its
own embedded servers, apart from those of ``make run``.
"""

import os

# One math thread per process (torch reads this when first imported, and the workers and servers the tests
# start inherit it): on a small shared machine a thread per core, spinning while they wait for each other,
# embeds several times slower than one.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import hashlib
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from acl.models import SourceGrant
from acl.services import role_groups_ensure
from ingest.runner import sync_job_run
from retrieval.search import leg_connections_close
from sources.models import Source, SyncJob
from sources.services.crud import source_create
from tests import corpus


def pytest_configure(config):
    """Temporary files in a folder of this run's own: concurrent runs (worktrees) would prune each other's
    numbered /tmp/pytest-of-<user> folders. Outside the checkout, where git would see a repository."""
    if not config.option.basetemp and os.environ.get("RAG_DATA_DIR"):
        run = hashlib.sha256(os.environ["RAG_DATA_DIR"].encode()).hexdigest()[:12]
        config.option.basetemp = os.path.join(tempfile.gettempdir(), f"rag-pytest-{run}")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """The test database, and at its end the search's second connections closed (it cannot be dropped
    while a connection is open): a hybrid search outside a transaction keeps one per pool thread."""
    yield
    leg_connections_close()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Users are created in most tests; PBKDF2 would spend most of the suite's time hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def allowed_paths(tmp_path_factory) -> list[str]:
    """The default SOURCE_ALLOWED_PATHS plus pytest's temporary root, where the tests write their sources."""
    return [*settings.SOURCE_ALLOWED_PATHS, str(tmp_path_factory.getbasetemp())]


@pytest.fixture(autouse=True)
def sources_under_tmp_path_allowed(settings, tmp_path_factory):
    settings.SOURCE_ALLOWED_PATHS = allowed_paths(tmp_path_factory)


@pytest.fixture(autouse=True)
def fresh_cache():
    """The shared cache (Redis) outlives a test: no test inherits another's login failures or rate counters."""
    cache.clear()


@pytest.fixture
def make_user(db):
    def make(username, *, groups=(), is_staff=False, is_superuser=False):
        user = User.objects.create_user(
            username=username, password="pw-" + username, is_staff=is_staff, is_superuser=is_superuser
        )
        for name in groups:
            user.groups.add(Group.objects.get_or_create(name=name)[0])
        return user

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def staff(make_user):
    """Staff in the three ready-made roles (operator, access admin, auditor): every staff operation but the
    superuser's own (the audit purge)."""
    user = make_user("staff", is_staff=True)
    user.groups.add(*role_groups_ensure().values())
    return user


@pytest.fixture
def superuser(make_user):
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def api():
    """``api(user)`` is a client authenticated with that user's real API token; ``api()`` is anonymous."""

    def client_for(user=None):
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return client_for


@pytest.fixture
def write_folder(tmp_path):
    """``write_folder("name", {"a.md": "text"})`` writes files under a fresh folder and returns its path."""

    def write(name: str, files: dict[str, str | bytes]) -> Path:
        root = tmp_path / name
        root.mkdir(parents=True, exist_ok=True)
        for relative, content in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return root

    return write


@pytest.fixture
def folder_source(db, write_folder):
    """``folder_source("name", files)`` creates a folder source over freshly written files."""

    def create(name: str, files: dict[str, str | bytes]) -> Source:
        root = write_folder(name, files)
        return source_create(name=name, kind=Source.Kind.FOLDER, config={"path": str(root)})

    return create


@pytest.fixture
def sync_now():
    """Run a sync through the same service the worker runs, in this process."""

    def run(source: Source) -> SyncJob:
        job = SyncJob.objects.create(source=source)
        sync_job_run(job_id=job.pk)
        job.refresh_from_db()
        return job

    return run


@pytest.fixture
def sync_folders(folder_source, sync_now):
    """``sync_folders(wiki=files, hr=files)``: folder sources created and synced in that order."""

    def create(**folders: dict[str, str | bytes]) -> tuple[Source, ...]:
        sources = tuple(folder_source(name, files) for name, files in folders.items())
        for source in sources:
            sync_now(source)
        return sources

    return create


# --- the shared corpora (tests/corpus.py): synced once per session, restored per test ------------


@pytest.fixture(scope="session")
def corpus_snapshot(django_db_setup, django_db_blocker, tmp_path_factory):
    """``corpus_snapshot(wiki=files, hr=files)``: those folders synced once, for a *session* fixture to keep.

    ``ages`` dates files before the sync; ``then(*sources)`` runs after it (see ``corpus_build``).

    Call it only from session fixtures, which run before any test's transaction opens;
    a function fixture then hands the test ``corpus_restore(snapshot)``.
    """

    def build(*, ages=None, then=None, **folders: dict[str, str]) -> corpus.SyncedCorpus:
        with django_db_blocker.unblock():
            root = tmp_path_factory.mktemp("corpus")
            return corpus.corpus_build(root, allowed_paths(tmp_path_factory), ages=ages, then=then, **folders)

    return build


@pytest.fixture
def corpus_restore(db):
    """``corpus_restore(snapshot)``: the snapshot's rows in this test's transaction; its sources, in order."""
    return corpus.corpus_restore


@pytest.fixture(scope="session")
def wiki_and_hr_snapshot(corpus_snapshot):
    return corpus_snapshot(wiki=corpus.WIKI, hr=corpus.HR)


@pytest.fixture
def wiki_and_hr(corpus_restore, wiki_and_hr_snapshot):
    """``(wiki, hr)``: one page each, synced in that order (v1 holds the wiki, v2 both). No grants."""
    return corpus_restore(wiki_and_hr_snapshot)


@pytest.fixture(scope="session")
def wiki_alone_snapshot(corpus_snapshot):
    return corpus_snapshot(wiki=corpus.WIKI)


@pytest.fixture
def wiki_alone(corpus_restore, wiki_alone_snapshot):
    """The one-page wiki, synced on its own (one version). No grants."""
    (wiki,) = corpus_restore(wiki_alone_snapshot)
    return wiki


@pytest.fixture(scope="session")
def two_page_wiki_and_hr_snapshot(corpus_snapshot):
    return corpus_snapshot(wiki=corpus.WIKI_WITH_ONCALL, hr=corpus.HR)


@pytest.fixture
def two_page_wiki_and_hr(corpus_restore, two_page_wiki_and_hr_snapshot):
    """``(wiki, hr)``: the wiki's deploy and on-call pages, then HR's leave page. No grants."""
    return corpus_restore(two_page_wiki_and_hr_snapshot)


@pytest.fixture(scope="session")
def three_page_wiki_and_hr_snapshot(corpus_snapshot):
    return corpus_snapshot(wiki=corpus.WIKI_WITH_STYLE, hr=corpus.HR)


@pytest.fixture
def three_page_wiki_and_hr(corpus_restore, three_page_wiki_and_hr_snapshot):
    """``(wiki, hr)``: the wiki's deploy, on-call and style pages, then HR's leave page. No grants."""
    return corpus_restore(three_page_wiki_and_hr_snapshot)


@pytest.fixture
def grant():
    def create(source, *, user=None, group=None):
        if isinstance(group, str):
            group = Group.objects.get_or_create(name=group)[0]
        return SourceGrant.objects.create(source=source, user=user, group=group)

    return create


def _database_url(settings_dict: dict) -> str:
    user = quote(settings_dict.get("USER") or "")
    password = quote(settings_dict.get("PASSWORD") or "")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = quote(settings_dict.get("HOST") or "", safe="")
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgresql://{credentials}{host}{port}/{settings_dict['NAME']}"


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, tmp_path_factory):
    """A real ``celery worker`` process on the test database and the real broker.

    Tests using it must be ``transaction=True`` so that the worker, on its own
    connection, sees their committed rows.
    """
    from django.db import connection

    name = f"test-{uuid.uuid4().hex[:8]}@localhost"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(connection.settings_dict),
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "SOURCE_ALLOWED_PATHS": ":".join(allowed_paths(tmp_path_factory)),
        "PYTHONUNBUFFERED": "1",
    }
    log_path = Path(settings.BASE_DIR) / ".data" / "test-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "ragplatform", "worker",
                "--pool", "solo", "--queues", "sync,interactive", "--hostname", name,
                "--without-gossip", "--without-mingle", "--loglevel", "INFO",
            ],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_for_worker(name, process, log_path)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_for_worker(name: str, process: subprocess.Popen, log_path: Path, timeout: float = 120) -> None:
    from ragplatform.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
        if app.control.ping(destination=[name], timeout=1.0):
            return
    raise RuntimeError(f"celery worker did not answer within {timeout:.0f}s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture
def wait_until():
    """``wait_until(predicate)`` polls until it returns something truthy; fails the test on timeout."""

    def wait(predicate, *, timeout: float = 120, interval: float = 0.2):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        pytest.fail(f"condition not met within {timeout:.0f}s")

    return wait


@pytest.hookimpl(trylast=True)  # after pytest-django has dropped the test database
def pytest_sessionfinish(session, exitstatus):
    """Stop the embedded servers this test run started (none when DATABASE_URL/REDIS_URL are set)."""
    from django.db import connections

    from ragplatform import runtime

    connections.close_all()
    runtime.stop_embedded_services()
