"""A document that needs more memory to parse than the parser process may have fails alone, with a reason."""

import pytest

from index_versions.selectors import version_revisions
from retrieval.search import search
from sources.models import Document, SyncJob
from sources.services.crud import source_create

# 2.9 million empty lists: under 9 MB on disk (below SOURCE_MAX_DOCUMENT_BYTES), far more once parsed.
MEMORY_HOG = b"[" + b"[]," * 2_900_000 + b"[]]"


@pytest.mark.django_db
def test_a_document_exhausting_the_parser_memory_limit_fails_alone_with_a_reason(
    settings, write_folder, sync_now, grant, alice
):
    settings.SOURCE_PARSE_MEMORY_BYTES = 200 * 1024**2  # room for the parsers themselves, not for the hog
    files = {f"note{i}.md": f"# Note {i}\n\nThe cafeteria opens at {7 + i} o'clock." for i in range(3)}
    root = write_folder("mixed", {**files, "hog.json": MEMORY_HOG, "after.md": "# After\n\nStill parsed."})
    source = source_create(name="mixed", kind="folder", config={"path": str(root), "include": ["*.md", "*.json"]})
    grant(source, user=alice)

    job = sync_now(source)

    assert job.status == SyncJob.Status.PARTIAL, job.message
    assert job.errors == [{"document": "hog.json", "reason": "refused: the document needs too much memory to parse"}]
    assert (job.counts["added"], job.counts["failed"]) == (4, 1)
    assert sorted(Document.objects.filter(source=source).values_list("external_id", flat=True)) == [
        "after.md", "note0.md", "note1.md", "note2.md",
    ]  # fmt: skip
    assert len(version_revisions(job.index_version, source_id=source.pk)) == 4
    # The parser process survived (or was replaced): the documents after the hog were parsed, and a sync runs again.
    assert [hit.document_title for hit in search(user=alice, query="still parsed", k=1).results] == ["After"]
    assert sync_now(source).status == SyncJob.Status.PARTIAL
