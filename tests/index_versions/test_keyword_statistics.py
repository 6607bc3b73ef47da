"""The keyword leg's statistics, maintained from each version's changes, equal a count from scratch."""

from pathlib import Path

from django.db import connection

from index_versions.models import IndexVersion, SourceStatSpan, TermStatSpan
from index_versions.selectors import version_rows
from index_versions.services.activation import index_version_activate
from index_versions.services.building import index_version_revert_source
from index_versions.services.purge import document_purge
from ragplatform.sql import compose
from sources.models import Document


def _counted(version: IndexVersion) -> tuple[dict, dict]:
    """What the statistics of ``version`` must be, counted from its rows."""
    statement = compose(
        """
        SELECT rows.source_id, lexeme, count(*) FROM ({rows}) rows
        JOIN index_versions_chunk c ON c.revision_id = rows.revision_id AND c.pipeline_id = %(pipeline)s,
             unnest(tsvector_to_array(c.search_vector)) lexeme
        GROUP BY 1, 2
        """,
        {"pipeline": version.pipeline_id},
        rows=version_rows(version),
    )
    sizes = compose(
        """
        SELECT rows.source_id, count(*), sum(length(c.search_vector)) FROM ({rows}) rows
        JOIN index_versions_chunk c ON c.revision_id = rows.revision_id AND c.pipeline_id = %(pipeline)s
        GROUP BY 1
        """,
        {"pipeline": version.pipeline_id},
        rows=version_rows(version),
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.text, statement.params)
        terms = {(source, lexeme): n for source, lexeme, n in cursor.fetchall()}
        cursor.execute(sizes.text, sizes.params)
        sources = {source: (n, int(total)) for source, n, total in cursor.fetchall()}
    return terms, sources


def _kept(version: IndexVersion) -> tuple[dict, dict]:
    alive = {"pipeline_id": version.pipeline_id, "valid_from__lte": version.pk, "valid_to__gt": version.pk}
    terms = {
        (source, lexeme): n
        for source, lexeme, n in TermStatSpan.objects.filter(**alive).values_list("source_id", "lexeme", "chunks")
    }
    sources = {
        source: (n, total)
        for source, n, total in SourceStatSpan.objects.filter(**alive).values_list("source_id", "chunks", "lexemes")
    }
    return terms, sources


def _edit(source, name, text):
    Path(source.config["path"], name).write_text(text)


def test_statistics_follow_edits_deletions_reverts_rollbacks_and_purges(folder_source, sync_now, staff):
    wiki = folder_source("wiki", {"deploy.md": "# Deploy\n\nDeploys roll out in waves.", "a.md": "# A\n\nAlpha text."})
    hr = folder_source("hr", {"leave.md": "# Leave\n\nParental leave is twenty weeks."})
    first = sync_now(wiki).index_version
    sync_now(hr)
    _edit(wiki, "deploy.md", "# Deploy\n\nDeploys roll out in one single wave, with rollback.")
    Path(wiki.config["path"], "a.md").unlink()
    sync_now(wiki)
    index_version_revert_source(source=wiki, version=first)
    held = sync_now(hr)  # "no changes": no version
    index_version_activate(version=first, reason="rollback")
    _edit(hr, "leave.md", "# Leave\n\nParental leave is twenty-four weeks, paid.")
    sync_now(hr)  # builds on the rolled-back version
    document_purge(document=Document.objects.get(source=wiki, external_id="a.md"), actor=staff)
    assert held.index_version is None
    versions = list(IndexVersion.objects.order_by("pk"))
    assert len(versions) >= 5
    for version in versions:
        assert _kept(version) == _counted(version), f"statistics of version {version.pk} drifted"
