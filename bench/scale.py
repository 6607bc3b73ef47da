"""Index versions at scale: what one small change costs beside a big source of 10k, 100k and 1M documents.

    .venv/bin/python bench/scale.py [--sizes 10000,100000,1000000] [--edits 7] [--no-write] [--smoke]

On its own embedded servers (``RAG_DATA_DIR``, default ``.data/bench-scale``) and a
scratch database: a big source grown step by step to each size (synthetic text with
a Zipf word distribution, one chunk per document with a stored random vector, so no
model time is spent; versions built through ``index_version_build_for_source``),
plus a small real source (20 Markdown files) synced through the real pipeline and
the real model. Per size it prints the small source's one-document edit sync (the
median of ``--edits`` syncs, each editing another page, and how much of it is SQL)
and no-op sync times, the rows and bytes the edit's version added, activation, per-source
revert, diff and retention times; then the targets. Appends the table to
``docs/benchmarks.md`` unless ``--no-write`` or ``--smoke``.
"""

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchsetup import ROOT, django_setup

django_setup(data_dir="bench-scale")

from benchdata import (  # noqa: E402
    documents_add,
    random_unit_vectors,
    scratch_database,
    secondary_indexes_rebuilt_after,
    source_add,
    sources_folder,
    statistics_settle,
    stored_chunks_add,
    zipf_texts,
)
from django.db import connection  # noqa: E402

from index_versions.models import (  # noqa: E402
    Chunk,
    Embedding,
    IndexVersion,
    KeywordPosting,
    MembershipSpan,
    RevisionSignature,
)
from index_versions.selectors import index_version_active, index_version_diff, version_revisions  # noqa: E402
from index_versions.services.activation import index_version_activate  # noqa: E402
from index_versions.services.building import index_version_build_for_source, index_version_revert_source  # noqa: E402
from index_versions.services.pipelines import pipeline_current  # noqa: E402
from index_versions.services.retention import index_versions_retain  # noqa: E402
from ingest.runner import sync_job_run  # noqa: E402
from sources.models import Document, DocumentRevision, Source, SyncJob  # noqa: E402
from sources.services.crud import source_create  # noqa: E402

GROW_BATCH = 50_000  # documents created per round trip, so memory stays flat at any size
SMALL_DOCUMENTS = 20


def _small_source(root: Path) -> Source:
    root.mkdir(parents=True, exist_ok=True)
    for n in range(SMALL_DOCUMENTS):
        (root / f"page-{n}.md").write_text(f"# Page {n}\n\nThe policy for team {n} is to review every change twice.")
    return source_create(name="small", kind=Source.Kind.FOLDER, config={"path": str(root)})


def _sync(source: Source) -> tuple[SyncJob, float]:
    started = time.perf_counter()
    job = sync_job_run(job_id=SyncJob.objects.create(source=source).pk)
    return job, time.perf_counter() - started


def _grow(big: Source, pipeline, *, have: int, want: int, revisions: dict[int, int]) -> IndexVersion:
    """The big source from ``have`` to ``want`` documents, in one version (a bulk load, as a first sync is).

    The tables it fills lose their secondary indexes (HNSW, GIN, B-tree) for the load
    and get them back, rebuilt, before anything is timed.
    """
    heavy = (Document, DocumentRevision, Embedding, Chunk, KeywordPosting, RevisionSignature)
    with secondary_indexes_rebuilt_after(*heavy):
        return _grow_loaded(big, pipeline, have=have, want=want, revisions=revisions)


def _grow_loaded(big: Source, pipeline, *, have: int, want: int, revisions: dict[int, int]) -> IndexVersion:
    for start in range(have, want, GROW_BATCH):
        count = min(GROW_BATCH, want - start)
        texts = zipf_texts(count, seed=start)
        added = documents_add(big, count, start=start, texts=texts)
        stored_chunks_add(
            pipeline=pipeline,
            revisions=added,
            vectors=random_unit_vectors(count, pipeline.dimensions, seed=start),
            texts=texts,
        )
        revisions.update({revision.document_id: revision.pk for revision in added})
    return index_version_build_for_source(source_id=big.pk, revisions=revisions, pipeline=pipeline, note=f"big {want}")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _activation_ms(one: IndexVersion, other: IndexVersion, rounds: int) -> float:
    times = []
    for n in range(rounds):
        target = other if n % 2 == 0 else one
        started = time.perf_counter()
        index_version_activate(version=target, reason="sync")  # a sync's own activation pauses nothing
        times.append(time.perf_counter() - started)
    index_version_activate(version=one, reason="sync")
    return _ms(statistics.median(times))


class _SqlTimer:
    """Total time of the statements run inside it (Django's execute wrapper), per normalised statement."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            key = " ".join(sql.split())[:160]
            self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - started


def _edit_syncs(small: Source, *, size: int, edits: int) -> tuple[SyncJob, IndexVersion, list[float], _SqlTimer]:
    """``edits`` one-document edit syncs, each editing another page; the last job, its base, times, SQL time."""
    times, timer = [], _SqlTimer()
    for n in range(edits):
        before = index_version_active()
        page = Path(small.config["path"], f"page-{2 + n % (SMALL_DOCUMENTS - 2)}.md")
        page.write_text(page.read_text() + f"\n\nEdited at size {size}, round {n}.")
        with connection.execute_wrapper(timer):
            edit, seconds = _sync(small)
        assert edit.status == SyncJob.Status.SUCCEEDED and edit.counts.get("updated") == 1, (edit.status, edit.counts)
        times.append(seconds)
    return edit, before, times, timer


def measure(*, big: Source, small: Source, size: int, rounds: int, edits: int) -> dict:
    warm = Path(small.config["path"], "page-1.md")
    warm.write_text(warm.read_text() + f"\n\nWarm-up at size {size}.")
    _sync(small)  # untimed: the first sync after a bulk load pays for cold caches and fresh statistics
    edit, before, edit_times, timer = _edit_syncs(small, size=size, edits=edits)
    version = edit.index_version
    noop_times = []
    for _ in range(max(1, edits // 2)):
        noop, seconds = _sync(small)
        assert noop.message == "no changes", noop.message
        noop_times.append(seconds)
    rows = MembershipSpan.objects.filter(valid_from=version.pk).count()
    activation = _activation_ms(version, before, rounds)
    started = time.perf_counter()
    diff = index_version_diff(version=version, against=before, user=_staff())
    diff_seconds = time.perf_counter() - started
    started = time.perf_counter()
    reverted = index_version_revert_source(source=small, version=before)
    revert_seconds = time.perf_counter() - started
    Source.objects.filter(pk=small.pk).update(sync_paused_at=None, sync_paused_reason="")
    started = time.perf_counter()
    retained = index_versions_retain(keep=3)
    retention_seconds = time.perf_counter() - started
    assert version_revisions(reverted, source_id=small.pk) == version_revisions(before, source_id=small.pk)
    slowest = sorted(timer.seconds.items(), key=lambda item: -item[1])[:5]
    return {
        "size": size,
        "edit_s": round(statistics.median(edit_times), 3),
        "edit_all_s": [round(t, 3) for t in edit_times],
        "edit_sql_ms": _ms(sum(timer.seconds.values()) / edits),
        "slowest_sql": [(_ms(seconds / edits), sql) for sql, seconds in slowest],
        "noop_s": round(statistics.median(noop_times), 3),
        "rows": rows,
        "bytes": version.counts["bytes"],
        "activation_ms": activation,
        "revert_ms": _ms(revert_seconds),
        "diff_ms": _ms(diff_seconds),
        "diff_documents": sum(diff.counts.values()),
        "retention_ms": _ms(retention_seconds),
        "retained_deleted": retained["versions"],
    }


def _staff():
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    return user


def render(rows: list[dict]) -> str:
    head = (
        "| big source (documents) | one-document edit sync (median) | of which SQL | no-op sync | rows added "
        "| bytes added | activation | per-source revert | diff | retention |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    )
    lines = [
        f"| {r['size']:,} | {r['edit_s']:.3f} s | {r['edit_sql_ms']} ms | {r['noop_s']:.3f} s | {r['rows']} "
        f"| {r['bytes']:,} "
        f"| {r['activation_ms']} ms | {r['revert_ms']} ms | {r['diff_ms']} ms ({r['diff_documents']} doc) "
        f"| {r['retention_ms']} ms ({r['retained_deleted']} versions) |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def verdict(rows: list[dict]) -> list[str]:
    first, last = rows[0], rows[-1]
    edit_ratio = last["edit_s"] / max(first["edit_s"], 1e-9)
    bytes_ratio = last["bytes"] / max(first["bytes"], 1)
    return [
        f"one-document edit sync at {last['size']:,} / at {first['size']:,}: {edit_ratio:.2f}x (target <= 1.5x), "
        f"{last['edit_s']:.2f} s (target < 2 s)",
        f"bytes added by the edit's version at {last['size']:,} / at {first['size']:,}: {bytes_ratio:.2f}x "
        "(target within 1.5x)",
        f"activation: at most {max(r['activation_ms'] for r in rows)} ms (target < 20 ms at every size)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=20, help="activation switches per size")
    parser.add_argument("--edits", type=int, default=7, help="one-document edit syncs per size (the median is shown)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="sizes 200 and 600, nothing recorded")
    args = parser.parse_args()
    sizes = [200, 600] if args.smoke else [int(s) for s in args.sizes.split(",")]
    started_at = datetime.now(UTC)
    load = os.getloadavg()
    rows = []
    with scratch_database(), tempfile.TemporaryDirectory(dir=sources_folder()) as folder:
        pipeline = pipeline_current()
        small = _small_source(Path(folder) / "small")
        _sync(small)
        big = source_add("big")
        revisions: dict[int, int] = {}
        have = 0
        for size in sizes:
            grow_started = time.perf_counter()
            _grow(big, pipeline, have=have, want=size, revisions=revisions)
            have = size
            statistics_settle()
            print(f"big source at {size:,} documents (built in {time.perf_counter() - grow_started:.0f} s)", flush=True)
            rows.append(
                measure(
                    big=big,
                    small=small,
                    size=size,
                    rounds=4 if args.smoke else args.rounds,
                    edits=2 if args.smoke else args.edits,
                )
            )
            print(render(rows[-1:]).splitlines()[-1], flush=True)
            print(f"  edit syncs (s): {rows[-1]['edit_all_s']}; slowest statements per edit:", flush=True)
            for ms, sql in rows[-1]["slowest_sql"]:
                print(f"    {ms} ms  {sql}", flush=True)
    table = render(rows)
    print(table)
    for line in verdict(rows):
        print(line)
    if args.smoke:
        print("smoke: ok")
        return
    if not args.no_write:
        with open(ROOT / "docs" / "benchmarks.md", "a") as out:
            out.write(
                f"\n## Index versions at scale (bench/scale.py)\n\nCommand: `.venv/bin/python bench/scale.py "
                f"--sizes {args.sizes} --edits {args.edits}` (run {started_at:%Y-%m-%d %H:%M} UTC; load average "
                f"at the start {load[0]:.1f} on 2 cores).\n\n{table}\n"
                + "\n".join(f"- {line}" for line in verdict(rows))
                + "\n"
            )


if __name__ == "__main__":
    main()
