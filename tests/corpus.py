"""The shared corpora: folder sources that many tests search, synced once per session.

Each corpus is synced for real (files on disk, the parser, the embedding model, the
version build) by a session fixture in ``tests/conftest.py``; a test that asks for it
gets the rows of that sync copied into its own transaction (see ``tests/snapshots.py``)
and its files rewritten as they were, so what one test changes the next never sees.

The folders are synced in the order given, one sync (and so one index version) each.
Tests that need ``transaction=True`` (a real worker, the live server) write their own.
"""

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.test import override_settings

from ingest.runner import sync_job_run
from sources.models import Source, SyncJob
from sources.services.crud import source_create
from tests.snapshots import Snapshot, snapshot_restore, snapshot_take

DEPLOY = "# Deploying\n\nDeploys roll out in three waves with a bake time between waves."
ONCALL = "# On call\n\nThe pager rotates weekly between the platform engineers."
STYLE = "# Style guide\n\nWrite short sentences and use the active voice."
LEAVE = "# Parental leave\n\nEmployees get twenty weeks of paid parental leave."

WIKI = {"deploy.md": DEPLOY}
HR = {"leave.md": LEAVE}
WIKI_WITH_ONCALL = {**WIKI, "oncall.md": ONCALL}
WIKI_WITH_STYLE = {**WIKI_WITH_ONCALL, "style.md": STYLE}


@dataclass(frozen=True)
class SyncedCorpus:
    snapshot: Snapshot
    folders: dict[Path, dict[str, tuple[bytes, int]]]  # folder -> file name -> (content, mtime in ns), after the build

    @property
    def extra(self):
        """What the build's ``then`` returned (primary keys, not model instances)."""
        return self.snapshot.value[1]


def corpus_sync(source: Source) -> SyncJob:
    """A sync run in this process, as the ``sync_now`` fixture runs one."""
    job = SyncJob.objects.create(source=source)
    sync_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def corpus_build(
    root: Path,
    allowed_paths: list[str],
    *,
    ages: dict[str, float] | None = None,
    then: Callable[..., Any] | None = None,
    **folders: dict[str, str],
) -> SyncedCorpus:
    """Write ``folders`` under ``root`` and sync them in order (as ``sync_folders`` does), keeping a snapshot.

    ``ages={"wiki/deploy.md": seconds}`` dates a file that long before now (negative: in the future).
    ``then(*sources)`` runs after the syncs (to change files and sync again, say); what it returns is
    kept as ``extra``. The caller runs it outside any test's transaction, with the database unblocked.
    """
    ages = dict(ages or {})
    now = time.time()
    paths = []
    for name, files in folders.items():
        path = root / name
        path.mkdir(parents=True)
        for relative, text in files.items():
            (path / relative).write_text(text, encoding="utf-8")
            if (age := ages.pop(f"{name}/{relative}", None)) is not None:
                os.utime(path / relative, (now - age, now - age))
        paths.append(path)
    assert not ages, f"no such files: {sorted(ages)}"

    def build() -> tuple[list[int], Any]:
        sources = [
            source_create(name=name, kind=Source.Kind.FOLDER, config={"path": str(path)})
            for name, path in zip(folders, paths, strict=True)
        ]
        for source in sources:
            job = corpus_sync(source)
            assert job.status == SyncJob.Status.SUCCEEDED, f"the shared corpus did not sync: {job.message}"
        return [source.pk for source in sources], then(*sources) if then else None

    with override_settings(SOURCE_ALLOWED_PATHS=allowed_paths):
        snapshot = snapshot_take(build)
    return SyncedCorpus(snapshot=snapshot, folders={path: _files(path) for path in paths})


def _files(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def corpus_restore(corpus: SyncedCorpus) -> tuple[Source, ...]:
    """The corpus's rows copied into the current transaction, its files as they were synced; its sources, in order."""
    for path, files in corpus.folders.items():
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        for relative, (content, mtime_ns) in files.items():
            (path / relative).parent.mkdir(parents=True, exist_ok=True)
            (path / relative).write_bytes(content)
            os.utime(path / relative, ns=(mtime_ns, mtime_ns))
    pks, _ = snapshot_restore(corpus.snapshot)
    by_pk = Source.objects.in_bulk(pks)
    return tuple(by_pk[pk] for pk in pks)
