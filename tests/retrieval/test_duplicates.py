"""Duplicate groups across sources, and their collapse at query time under each user's ACL."""

import os
import time

import pytest

from acl.services import document_access_list_set
from index_versions.duplicate_detection import groups, normalised
from index_versions.models import DuplicateSpan
from index_versions.services.building import index_version_regroup
from retrieval.reports import stale_duplicates
from retrieval.search import search
from tests.retrieval.conftest import STALE_DEPLOY

POLICY = (
    "# Expense policy\n\nTravel expenses are reimbursed within thirty days of the claim. Receipts are "
    "required for every item above twenty euros, and claims go through the finance portal."
)
NEAR = POLICY + " Questions go to the finance team."
OTHER = "# Deploying\n\nDeploys roll out in three waves with a bake time between the waves."


def test_exact_copies_ignore_case_and_punctuation_and_near_copies_are_found():
    assert normalised("Hello,  World!") == normalised("hello world")
    found = groups([(1, POLICY), (2, POLICY.upper()), (3, NEAR), (4, OTHER)], threshold=0.7)
    assert found == [({1, 2, 3}, "near")]
    assert groups([(1, POLICY), (2, POLICY.lower())], threshold=0.7) == [({1, 2}, "exact")]
    assert groups([(1, POLICY), (4, OTHER)], threshold=0.7) == []


@pytest.fixture
def copies(folder_source, sync_now, write_folder):
    old = folder_source("archive", {"policy.md": POLICY})
    sync_now(old)
    time.sleep(0.01)
    new = folder_source("handbook", {"policy.md": POLICY, "deploy.md": OTHER})
    path = os.path.join(new.config["path"], "policy.md")
    os.utime(path, (time.time() + 60, time.time() + 60))  # the handbook's copy is the newer one
    version = sync_now(new).index_version
    return old, new, version


def _groups_of(version):
    return DuplicateSpan.objects.filter(valid_from__lte=version.pk, valid_to__gt=version.pk)


def test_the_most_recently_modified_copy_is_canonical_unless_a_source_is_authoritative(copies, settings):
    old, new, version = copies
    canonical = _groups_of(version).get(is_canonical=True)
    assert canonical.document.source == new
    assert _groups_of(version).filter(group=canonical.document_id).count() == 2

    settings.DUPLICATES_AUTHORITATIVE_SOURCES = ["archive"]
    regrouped = index_version_regroup()
    assert _groups_of(regrouped).get(is_canonical=True).document.source == old
    assert _groups_of(version).get(is_canonical=True).document.source == new  # the older version is unchanged


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_a_user_who_reads_both_copies_gets_one_result_listing_the_other(copies, grant, alice, mode):
    old, new, _ = copies
    grant(old, user=alice)
    grant(new, user=alice)
    hits = search(user=alice, query="travel expenses reimbursed", k=5, mode=mode).results
    policy_hits = [hit for hit in hits if "reimbursed" in hit.text]
    assert len(policy_hits) == 1
    (hit,) = policy_hits
    assert hit.source_id == new.pk  # the canonical (newer) copy
    assert [entry["source_id"] for entry in hit.also_in] == [old.pk]
    assert hit.also_in[0]["uri"].endswith("policy.md") and set(hit.also_in[0]) == {
        "document_id", "document_title", "source_id", "uri"
    }  # fmt: skip


def test_an_invisible_canonical_twin_neither_hides_the_visible_copy_nor_is_revealed(copies, grant, alice):
    old, _, _ = copies
    grant(old, user=alice)  # only the archive: the canonical copy (handbook) is invisible to her
    (hit,) = [h for h in search(user=alice, query="travel expenses reimbursed", k=5).results if "reimbursed" in h.text]
    assert hit.source_id == old.pk and hit.also_in == ()


def test_an_access_list_on_one_copy_hides_it_from_also_in(copies, grant, alice):
    old, new, _ = copies
    grant(old, user=alice)
    grant(new, user=alice)
    document_access_list_set(document=old.documents.get(), principals=["someone-else"])
    (hit,) = [h for h in search(user=alice, query="travel expenses reimbursed", k=5).results if "reimbursed" in h.text]
    assert hit.source_id == new.pk and hit.also_in == ()


# --- the stale duplicates report (staff) -------------------------------------------------------


def test_stale_report_lists_copies_that_disagree_on_their_date_with_the_fresh_one_canonical(stale_copies):
    _, handbook, version = stale_copies
    report = stale_duplicates(version=version)
    assert report.count() == 1  # the deploy guide's copies share their date: not stale
    (group,) = report[0:10]
    assert group.canonical.source_id == handbook.pk and group.canonical_is_newest
    assert [(copy.source_name, copy.is_canonical) for copy in group.members] == [("handbook", True), ("archive", False)]
    assert {copy.title for copy in group.members} == {"Expense policy"}
    assert all(copy.uri.endswith("policy.md") for copy in group.members)
    assert 399.9 < group.spread.total_seconds() / 86400 < 400.1
    assert (group.newest_modified_at, group.oldest_modified_at) == (
        group.members[0].modified_at,
        group.members[1].modified_at,
    )


def test_stale_report_threshold_in_days(stale_copies):
    _, _, version = stale_copies
    assert stale_duplicates(version=version, min_days=399).count() == 1
    assert stale_duplicates(version=version, min_days=401).count() == 0
    assert stale_duplicates(version=version, min_days=401)[0:10] == []


def test_stale_report_flags_an_authoritative_copy_older_than_another(stale_copies, settings):
    archive, _, _ = stale_copies
    settings.DUPLICATES_AUTHORITATIVE_SOURCES = ["archive"]
    version = index_version_regroup()
    (group,) = stale_duplicates(version=version)[0:10]
    assert group.canonical.source_id == archive.pk and not group.canonical_is_newest
    assert group.members[0].source_id == archive.pk  # the canonical first, though older


def test_stale_report_pages_widest_spread_first_in_two_queries(
    stale_copies, folder_source, sync_now, django_assert_num_queries
):
    # A third copy of the deploy guide, 10 days old: a second, narrower stale group.
    wiki = folder_source("wiki", {"deploy.md": STALE_DEPLOY})
    os.utime(os.path.join(wiki.config["path"], "deploy.md"), (time.time() - 10 * 86400,) * 2)
    report = stale_duplicates(version=sync_now(wiki).index_version)
    with django_assert_num_queries(2):
        assert report.count() == 2
        first, second = report[0:2]
    assert (first.canonical.title, second.canonical.title) == ("Expense policy", "Deploying")
    assert [group.canonical.title for group in report[1:2]] == ["Deploying"]
