"""The git connector against a real repository made with the git CLI."""

import subprocess

import pytest

from index_versions.selectors import version_entries
from ragplatform.exceptions import ApplicationError
from sources.models import Document, DocumentRevision, SyncJob
from sources.services.crud import source_create, source_update


def git(repo, *args) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(repo), "PATH": "/usr/bin:/bin",
    }  # fmt: skip
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "docs").mkdir()
    (root / "docs" / "deploy.md").write_text("# Deploying\n\nDeploys roll out in three waves.")
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("# The entry point\ndef main():\n    return 'hello'\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_git_source_syncs_docs_and_code_with_the_commit_as_version(db, repo, sync_now):
    source = source_create(name="code", kind="git", config={"repository": repo.as_uri(), "branch": "main"})
    assert source.config["repository"] == str(repo)
    job = sync_now(source)
    assert job.status == SyncJob.Status.SUCCEEDED, job.errors
    assert sorted(Document.objects.values_list("external_id", flat=True)) == ["docs/deploy.md", "src/app.py"]
    first = git(repo, "rev-parse", "HEAD").strip()
    assert set(DocumentRevision.objects.values_list("version", flat=True)) == {first}
    code = DocumentRevision.objects.get(document__external_id="src/app.py")
    assert code.title == "app.py" and "```python\n# The entry point" in code.content

    (repo / "docs" / "deploy.md").write_text("# Deploying\n\nDeploys roll out in four waves.")
    git(repo, "rm", "-q", "src/app.py")
    git(repo, "commit", "-qam", "second")
    job = sync_now(source)
    assert (job.counts["updated"], job.counts["deleted"], job.counts["unchanged"]) == (1, 1, 0)
    second = git(repo, "rev-parse", "HEAD").strip()
    assert (
        DocumentRevision.objects.get(document__external_id="docs/deploy.md", content__contains="four").version == second
    )


def test_git_path_globs_and_branch_select_files(db, repo, sync_now):
    git(repo, "checkout", "-q", "-b", "release")
    (repo / "docs" / "release.md").write_text("# Release notes\n\nVersion 2.")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "release")
    source = source_create(
        name="docs", kind="git", config={"repository": str(repo), "branch": "release", "include": ["docs/*"]}
    )
    sync_now(source)
    assert sorted(Document.objects.values_list("external_id", flat=True)) == ["docs/deploy.md", "docs/release.md"]
    source_update(source=source, data={"config": {**source.config, "branch": "main"}})
    sync_now(source)
    assert Document.objects.get(external_id="docs/release.md") not in source.documents.filter(
        pk__in=version_entries(SyncJob.objects.latest("pk").index_version).values("document_id")
    )


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "repository"),
        ({"repository": "relative/repo"}, "repository"),
        ({"repository": "https://github.com/x/y.git"}, "repository"),
        ({"repository": "/nonexistent/repo"}, "repository"),
        ({"repository": "{repo}", "branch": "nope"}, "branch"),
        ({"repository": "{repo}", "branch": "--upload-pack=evil"}, "branch"),
        ({"repository": "{repo}", "include": "*.md"}, "include"),
        ({"repository": "{tmp}"}, "repository"),
    ],
)
def test_invalid_git_config_is_refused_with_the_field_named(db, repo, tmp_path, config, field):
    config = {
        key: value.format(repo=repo, tmp=tmp_path) if isinstance(value, str) else value for key, value in config.items()
    }
    with pytest.raises(ApplicationError) as error:
        source_create(name="bad", kind="git", config=config)
    assert field in error.value.details["config"]
