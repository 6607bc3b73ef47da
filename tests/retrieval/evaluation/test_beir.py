"""``manage.py evaluate`` on a tiny BEIR dataset, and the metrics against hand-computed values."""

import io
import json
import math

import pytest
from django.core.management import CommandError, call_command

from index_versions.models import IndexVersion
from retrieval.evaluation import beir as beir_runner
from retrieval.evaluation import metrics
from retrieval.search import search

CORPUS = {
    "d1": ("Parental leave", "Employees get twenty weeks of paid parental leave after a birth or adoption."),
    "d2": ("Deploying", "Deploys roll out in three waves with a bake time between the waves."),
    "d3": ("On call", "The pager rotates weekly between the platform engineers."),
    "d4": ("Expenses", "Travel expenses are reimbursed within thirty days of the claim."),
}
QUERIES = {"q1": "how long is parental leave", "q2": "who carries the pager", "q3": "unjudged query"}
QRELS = [("q1", "d1", 1), ("q2", "d3", 1)]


@pytest.fixture
def beir(tmp_path):
    root = tmp_path / "tiny"
    root.mkdir()
    with open(root / "corpus.jsonl", "w") as out:
        for doc_id, (title, text) in CORPUS.items():
            out.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with open(root / "queries.jsonl", "w") as out:
        for query_id, text in QUERIES.items():
            out.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    (root / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS))
    return root


def test_evaluate_prints_every_metric_per_mode_and_leaves_the_active_version_alone(beir, folder_source, sync_now):
    active = sync_now(folder_source("wiki", {"a.md": "# A\n\nSomething else entirely."})).index_version
    out = io.StringIO()
    call_command("evaluate", dataset=str(beir), modes="vector,keyword,hybrid", stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "4 documents, 2 queries" in text  # only judged queries count
    rows = {
        line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ") and "---" not in line
    }
    assert set(rows) == {"mode", "vector", "keyword", "hybrid"}
    assert all(header in rows["mode"] for header in ("nDCG@10", "recall@10", "recall@100", "MRR@10"))
    # Two clear-cut queries: every mode puts the judged document first.
    for mode in ("vector", "keyword", "hybrid"):
        assert [cell.strip() for cell in rows[mode].split("|")[2:6]] == ["1.000"] * 4
    assert IndexVersion.objects.get(state=IndexVersion.State.ACTIVE) == active
    built = IndexVersion.objects.exclude(pk=active.pk).get()
    assert built.state == IndexVersion.State.READY and built.counts["documents"] == 5  # the wiki's one, too


def test_evaluate_asks_each_search_for_k_chunks(beir, db):
    # q1 has two relevant documents: one chunk per search can find only one of them.
    (beir / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td4\t1\nq2\td3\t1\n")

    def recall_at_10(k: int) -> str:
        out = io.StringIO()
        call_command("evaluate", dataset=str(beir), modes="vector", k=k, stdout=out, stderr=io.StringIO())
        assert f"k={k}" in out.getvalue()
        row = next(line for line in out.getvalue().splitlines() if line.startswith("| vector"))
        return row.split("|")[3].strip()

    assert recall_at_10(100) == "1.000"
    assert recall_at_10(1) == "0.750"
    with pytest.raises(CommandError, match="--k"):
        call_command("evaluate", dataset=str(beir), k=0)


def test_the_evaluation_user_sees_only_the_evaluation_source(beir, folder_source, sync_now):
    sync_now(folder_source("wiki", {"a.md": "# A\n\nParental leave rules of another source."}))
    dataset = beir_runner.dataset_read(beir)
    version = beir_runner.evaluation_corpus_load(dataset=dataset, max_tokens=0, overlap_tokens=32)
    hits = search(user=beir_runner.evaluation_user(), query="parental leave", k=10, version=version).results
    assert hits and all(hit.uri.startswith("beir:evaluation:tiny/") for hit in hits)


def test_loading_twice_embeds_nothing_new(beir, db):
    dataset = beir_runner.dataset_read(beir)
    beir_runner.evaluation_corpus_load(dataset=dataset, max_tokens=0, overlap_tokens=32)
    again = beir_runner.evaluation_corpus_load(dataset=dataset, max_tokens=0, overlap_tokens=32)
    assert again.counts["embeddings_computed"] == 0 and again.counts["chunks"] == 4


def test_unknown_mode_and_missing_dataset_are_refused(beir, tmp_path, db):
    with pytest.raises(CommandError, match="unknown mode"):
        call_command("evaluate", dataset=str(beir), modes="fuzzy")
    with pytest.raises(CommandError, match="not a BEIR dataset"):
        call_command("evaluate", dataset=str(tmp_path / "nowhere"))


def test_metrics_match_hand_computed_values():
    relevant = {"a": 1, "b": 1}
    ranked = ["x", "a", "y", "b"]
    assert metrics.ndcg_at(ranked, relevant, 10) == pytest.approx(
        (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    )
    assert metrics.recall_at(ranked, relevant, 2) == 0.5
    assert metrics.recall_at(ranked, relevant, 100) == 1.0
    assert metrics.mrr_at(ranked, relevant, 10) == 0.5
    assert metrics.mrr_at(["x"], relevant, 10) == 0.0


def test_evaluate_prints_a_hybrid_rerank_row_by_default_when_a_reranker_is_configured(beir, db, reranker):
    out = io.StringIO()
    call_command("evaluate", dataset=str(beir), stdout=out, stderr=io.StringIO())
    rows = {
        line.split("|")[1].strip(): line
        for line in out.getvalue().splitlines()
        if line.startswith("| ") and "---" not in line
    }
    assert set(rows) == {"mode", "vector", "keyword", "hybrid", "hybrid+rerank"}
    cells = [float(cell) for cell in rows["hybrid+rerank"].split("|")[2:6]]
    assert all(0.0 <= value <= 1.0 for value in cells)
    assert cells[2] == 1.0  # recall@100: reranking re-orders the candidates, it loses none of them


def test_hybrid_rerank_is_not_a_default_mode_and_is_refused_without_a_reranker(beir, db, settings):
    settings.RERANK_MODEL = ""
    assert beir_runner.default_modes() == ("hybrid", "vector", "keyword")
    with pytest.raises(CommandError, match="RERANK_MODEL"):
        call_command("evaluate", dataset=str(beir), modes="hybrid+rerank", stdout=io.StringIO())
