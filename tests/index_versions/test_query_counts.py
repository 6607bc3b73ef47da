"""The SQL budget of the version writes: activation, a source's revert, a document's purge.

Each runs on the shared wiki and HR corpus (v1 holds the wiki, v2 both), so the
counts are those of a small but complete index; none of them may grow with it
unnoticed.
"""

from index_versions.models import IndexVersion
from index_versions.selectors import index_version_active
from index_versions.services.activation import index_version_activate
from index_versions.services.building import index_version_revert_source
from index_versions.services.purge import document_purge

# Savepoint, version lock, both versions locked, the two state switches, the activation
# row, the paused sources, the audit row, release.
ACTIVATE_QUERIES = 10
# The source's differences between the versions, the new version built from the active
# one with that delta (spans, figures, duplicate groups, keyword statistics and postings), its activation;
# the duplicate-band probe runs inside its own savepoint with index-only planner options (four statements).
REVERT_QUERIES = 59
# The document and what holds it, the figures of each version holding it, the redaction
# of quoted answers, the keyword statistics, the deletes (keyword postings and garbage candidates
# included), the tombstone, the audit row.
PURGE_QUERIES = 48


def _versions(wiki, hr) -> tuple[IndexVersion, IndexVersion]:
    return wiki.sync_jobs.get().index_version, hr.sync_jobs.get().index_version


def test_activating_an_older_version_runs_a_fixed_number_of_queries(wiki_and_hr, staff, django_assert_num_queries):
    v1, v2 = _versions(*wiki_and_hr)
    assert index_version_active() == v2
    with django_assert_num_queries(ACTIVATE_QUERIES):
        index_version_activate(version=v1, actor=staff, reason="rollback")
    assert index_version_active() == v1


def test_reverting_a_source_runs_a_fixed_number_of_queries(wiki_and_hr, staff, django_assert_num_queries):
    _, hr = wiki_and_hr
    v1, v2 = _versions(*wiki_and_hr)
    with django_assert_num_queries(REVERT_QUERIES):
        reverted = index_version_revert_source(source=hr, version=v1, actor=staff)
    assert index_version_active() == reverted and reverted.parent_id == v2.pk
    assert reverted.counts["documents"] == 1  # hr's page is not in v1


def test_purging_a_document_runs_a_fixed_number_of_queries(wiki_and_hr, staff, django_assert_num_queries):
    _, hr = wiki_and_hr
    leave = hr.documents.get()
    with django_assert_num_queries(PURGE_QUERIES):
        purged = document_purge(document=leave, actor=staff)
    assert purged.purged_at is not None and purged.external_id.startswith("purged:")
