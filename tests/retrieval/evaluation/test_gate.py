"""The evaluation gate: a sync activates its version only if it scores no worse on the set than the active one.

Everything is real: folder sources synced through the sync service, the embedding
model, the search SQL with the ACL, the set as a JSONL file on disk.
"""

import json
from pathlib import Path

import pytest

from acl.models import AuditEvent
from index_versions.models import IndexVersion
from index_versions.selectors import index_version_active
from retrieval.evaluation import gate
from retrieval.models import VersionEvaluation
from sources.models import SyncJob

WIKI = {
    "deploy.md": "# Deploying\n\nDeploys roll out in three waves with a bake time; the canary wave goes first.",
    "oncall.md": "# On call\n\nThe on-call engineer acknowledges pages within fifteen minutes, handing over Mondays.",
    "laptops.md": "# Laptops\n\nNew hires receive a laptop on their first day; lost laptops are reported to security.",
    "parking.md": "# Parking\n\nVisitors park on level two of the garage and register their plates at reception.",
    "coffee.md": "# Coffee\n\nThe espresso machine on the third floor is descaled every Friday afternoon.",
    "backups.md": "# Backups\n\nDatabases are backed up nightly and restores are rehearsed every quarter.",
}
SOUP = "# Soup\n\nSimmer the onions slowly, add the stock and season with thyme before serving."
EXPENSES = "# Expenses\n\nSubmit travel receipts within thirty days; meals are reimbursed up to a daily limit."


@pytest.fixture
def gatekeeper(make_user):
    return make_user("gatekeeper")


@pytest.fixture(scope="session")
def gate_wiki_snapshot(corpus_snapshot):
    return corpus_snapshot(wiki=WIKI)


@pytest.fixture
def wiki(corpus_restore, gate_wiki_snapshot, grant, gatekeeper):
    """The wiki, synced once (the active version) and readable by the gate user."""
    (source,) = corpus_restore(gate_wiki_snapshot)
    grant(source, user=gatekeeper)
    return source


def document_id(source, name):
    return source.documents.get(external_id=name).pk


def uri(source, name):
    return Path(source.config["path"], name).resolve().as_uri()


@pytest.fixture
def gate_set(tmp_path, settings):
    """``gate_set(rows)`` writes the set and turns the gate on, searching as ``gatekeeper``."""

    def configure(rows, *, user="gatekeeper", tolerance=0.02):
        path = tmp_path / "gate.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        settings.EVALUATION_GATE_SET = str(path)
        settings.EVALUATION_GATE_USER = user
        settings.EVALUATION_GATE_TOLERANCE = tolerance
        settings.EVALUATION_GATE_MODE = "hybrid"
        return path

    return configure


def wiki_set(source):
    return [
        {"query": "how do deploys roll out in waves?", "relevant_documents": [document_id(source, "deploy.md")]},
        {
            "query": "how quickly must on-call acknowledge pages?",
            "relevant_documents": [document_id(source, "oncall.md")],
        },
    ]


def write(source, name, text):
    Path(source.config["path"], name).write_text(text, encoding="utf-8")


def worsen(source):
    """Replace one relevant document with garbage and delete the other."""
    write(source, "deploy.md", SOUP)
    Path(source.config["path"], "oncall.md").unlink()


def test_with_the_gate_off_a_sync_activates_as_before(wiki, sync_now, settings):
    settings.EVALUATION_GATE_SET = ""
    worsen(wiki)
    job = sync_now(wiki)
    assert job.status == SyncJob.Status.SUCCEEDED and job.message == ""
    assert index_version_active() == job.index_version
    assert not VersionEvaluation.objects.exists()


def test_sync_that_makes_the_set_worse_is_held_and_the_active_version_stays(wiki, sync_now, gate_set):
    gate_set(wiki_set(wiki))
    before = index_version_active()
    worsen(wiki)

    job = sync_now(wiki)

    held = IndexVersion.objects.get(pk=job.index_version_id)
    assert job.status == SyncJob.Status.SUCCEEDED
    assert held.state == IndexVersion.State.READY and index_version_active() == before
    evaluation = VersionEvaluation.objects.get(version=held)
    assert not evaluation.passed and evaluation.trigger == "sync" and evaluation.baseline == before
    assert evaluation.score < evaluation.baseline_score - 0.02 and evaluation.query_count == 2
    assert job.message.startswith(f"version {held.pk} held by the evaluation gate (failed: nDCG@10 ")
    assert f"{evaluation.score:.3f} < {evaluation.baseline_score:.3f} - 0.02" in job.message
    hold = AuditEvent.objects.get(action="index_version.hold")
    assert hold.target == f"index_version:{held.pk}" and hold.details["active"] == before.pk


def test_sync_that_keeps_the_score_activates(wiki, sync_now, gate_set):
    gate_set(wiki_set(wiki))
    write(wiki, "expenses.md", EXPENSES)

    job = sync_now(wiki)

    assert index_version_active() == job.index_version
    evaluation = VersionEvaluation.objects.get(version=job.index_version)
    assert evaluation.passed and evaluation.score >= evaluation.baseline_score - 0.02
    assert job.message.startswith("activated; evaluation gate passed: nDCG@10")


def test_sync_that_improves_the_score_activates(wiki, sync_now, gate_set):
    gate_set([*wiki_set(wiki), {"query": "when are travel receipts due?", "relevant_uris": [uri(wiki, "expenses.md")]}])
    write(wiki, "expenses.md", EXPENSES)

    job = sync_now(wiki)

    evaluation = VersionEvaluation.objects.get(version=job.index_version)
    assert evaluation.passed and evaluation.score > evaluation.baseline_score
    assert index_version_active() == job.index_version


def test_a_held_version_can_be_activated_by_hand(wiki, sync_now, gate_set, api, staff):
    gate_set(wiki_set(wiki))
    worsen(wiki)
    held = sync_now(wiki).index_version
    assert held.state == IndexVersion.State.READY

    response = api(staff).post(f"/api/v1/index-versions/{held.pk}/activate")

    assert response.status_code == 200 and response.json()["state"] == "active"
    assert index_version_active() == held


def test_first_sync_activates_with_nothing_to_compare_against(folder_source, sync_now, gate_set, gatekeeper):
    gate_set([{"query": "deploys", "relevant_uris": ["file:///nowhere.md"]}])
    job = sync_now(folder_source("wiki", WIKI))
    assert index_version_active() == job.index_version
    assert not VersionEvaluation.objects.exists()


@pytest.mark.parametrize(
    ("problem", "reason"),
    [
        pytest.param("missing", "cannot read the evaluation set", id="missing-file"),
        pytest.param("malformed", "line 2: not JSON", id="malformed-line"),
        pytest.param("no-judgements", "holds no query with relevant documents", id="nothing-relevant"),
        pytest.param("unknown-user", "EVALUATION_GATE_USER 'nobody' does not exist", id="unknown-user"),
    ],
)
def test_an_unusable_set_or_user_holds_the_version_and_says_why(wiki, sync_now, gate_set, problem, reason):
    rows = wiki_set(wiki)
    path = gate_set(rows, user="nobody" if problem == "unknown-user" else "gatekeeper")
    if problem == "missing":
        path.unlink()
    elif problem == "malformed":
        path.write_text(json.dumps(rows[0]) + "\n{not json\n", encoding="utf-8")
    elif problem == "no-judgements":
        path.write_text(json.dumps({"query": "deploys", "relevant_documents": []}) + "\n", encoding="utf-8")
    before = index_version_active()
    write(wiki, "expenses.md", EXPENSES)  # a harmless change: only the gate's problem holds it

    job = sync_now(wiki)

    assert job.status == SyncJob.Status.SUCCEEDED
    assert index_version_active() == before and job.index_version.state == IndexVersion.State.READY
    evaluation = VersionEvaluation.objects.get(version=job.index_version)
    assert evaluation.score is None and not evaluation.passed and reason in evaluation.reason
    assert "held by the evaluation gate (not evaluated: " in job.message and reason in job.message


def test_documents_the_gate_user_cannot_read_do_not_count(wiki, folder_source, sync_now, gate_set, make_user, grant):
    """Relevant documents in a source the gate user has no grant on are never found; staff status grants nothing."""
    hr = folder_source("hr", {"pay.md": "# Pay\n\nSalary bands are reviewed every April by the pay committee."})
    sync_now(hr)
    rows = [{"query": "when are salary bands reviewed?", "relevant_documents": [document_id(hr, "pay.md")]}]
    make_user("operator", is_staff=True)
    grant(hr, user=make_user("reader"))
    version = index_version_active()

    def score(username):
        gate_set(rows, user=username)
        return gate.version_score(version=version, gate=gate.gate_prepare())

    assert score("gatekeeper") == 0.0  # granted the wiki only
    assert score("operator") == 0.0
    assert score("reader") == 1.0


def test_a_worse_sync_of_documents_the_gate_user_cannot_read_is_not_held(wiki, folder_source, sync_now, gate_set):
    hr = folder_source("hr", {"pay.md": "# Pay\n\nSalary bands are reviewed every April by the pay committee."})
    sync_now(hr)
    gate_set([*wiki_set(wiki), {"query": "salary band review", "relevant_documents": [document_id(hr, "pay.md")]}])
    write(hr, "pay.md", SOUP)

    job = sync_now(hr)

    assert index_version_active() == job.index_version
    evaluation = VersionEvaluation.objects.get(version=job.index_version)
    assert evaluation.passed and evaluation.score == evaluation.baseline_score


def test_staff_evaluates_a_version_on_demand_and_lists_the_results(wiki, sync_now, gate_set, api, staff):
    gate_set(wiki_set(wiki))
    worsen(wiki)
    held = sync_now(wiki).index_version

    response = api(staff).post(f"/api/v1/index-versions/{held.pk}/evaluations")

    assert response.status_code == 201
    body = response.json()
    assert body["trigger"] == "manual" and body["passed"] is False and body["baseline"] == index_version_active().pk
    assert body["verdict"].startswith("failed: nDCG@10 ")
    listed = api(staff).get(f"/api/v1/index-versions/{held.pk}/evaluations").json()
    assert listed["count"] == 2 and [e["trigger"] for e in listed["results"]] == ["manual", "sync"]
    assert held.state == IndexVersion.State.READY  # evaluating activates nothing


def test_evaluating_on_demand_with_the_gate_off_is_a_conflict(wiki, api, staff, settings):
    settings.EVALUATION_GATE_SET = ""
    response = api(staff).post(f"/api/v1/index-versions/{index_version_active().pk}/evaluations")
    assert response.status_code == 409 and response.json()["error"]["code"] == "evaluation_gate_off"


def test_the_feedback_export_is_a_set_the_gate_reads(wiki, api, staff, gatekeeper, tmp_path, settings):
    settings.AUDIT_QUERY_TEXT = "keep"
    client = api(gatekeeper)
    answer = client.post("/api/v1/answer", {"query": "how do deploys roll out?"}, format="json").json()
    assert client.post("/api/v1/feedback", {"id": answer["id"], "rating": "up"}, format="json").status_code == 201
    response = api(staff).get("/api/v1/feedback/export?kind=evaluation")
    exported = b"".join(response.streaming_content)
    (row,) = [json.loads(line) for line in exported.decode().splitlines()]
    assert document_id(wiki, "deploy.md") in row["relevant_documents"]
    path = tmp_path / "exported.jsonl"
    path.write_bytes(exported)

    evaluation_set = gate.evaluation_set_read(path=str(path))

    assert [q.text for q in evaluation_set.queries] == ["how do deploys roll out?"]
    assert evaluation_set.queries[0].documents == frozenset(row["relevant_documents"])


def test_versions_page_shows_why_a_version_is_held(wiki, sync_now, gate_set, client, db):
    from django.contrib.auth.models import User

    gate_set(wiki_set(wiki))
    worsen(wiki)
    held = sync_now(wiki).index_version
    client.force_login(User.objects.create_superuser("operator", password="pw-operator"))

    page = client.get("/admin/index_versions/indexversion/").content.decode()

    assert "held by the evaluation gate: nDCG@10 " in page
    confirmation = client.get(f"/admin/index_versions/indexversion/{held.pk}/activate/").content.decode()
    assert "Evaluation gate: held by the evaluation gate" in confirmation
