"""Duplicate groups across sources, and their collapse at query time under each user's ACL."""

import os
import time

import pytest

from acl.services import document_access_list_set
from retrieval.duplicates import groups, normalised
from retrieval.models import DuplicateMember
from retrieval.selectors import search

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


def test_the_most_recently_modified_copy_is_canonical_unless_a_source_is_authoritative(copies, settings):
    old, new, version = copies
    canonical = DuplicateMember.objects.get(version=version, is_canonical=True)
    assert canonical.document.source == new
    assert DuplicateMember.objects.filter(version=version, group=canonical.document_id).count() == 2

    from retrieval.services import duplicates_compute

    settings.DUPLICATES_AUTHORITATIVE_SOURCES = ["archive"]
    duplicates_compute(version=version)
    assert DuplicateMember.objects.get(version=version, is_canonical=True).document.source == old


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
