"""A local (or ``file://``) Git repository: one branch, files selected by globs.

Read through the ``git`` command line without a shell and without a working
tree: ``ls-tree`` lists the branch's files, ``cat-file --batch`` streams their
blobs and one ``log`` pass gives each file its last commit, which becomes the
document's version.
"""

import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings

from sources.connectors.base import (
    ConfigError,
    Connector,
    FetchedDocument,
    FetchFailure,
    allowed_path,
    glob_list,
    matches,
    require_object,
)
from sources.metadata import document_metadata
from sources.parsers import media_type_for
from sources.parsers.dispatch import SUPPORTED_SUFFIXES

DEFAULT_INCLUDE = [f"*{suffix}" for suffix in SUPPORTED_SUFFIXES]
_SUBMODULE, _SYMLINK = "160000", "120000"


def _git(repository: str, *args: str, input: bytes | None = None) -> bytes:
    result = subprocess.run(
        ["git", "-C", repository, *args], input=input, capture_output=True, timeout=600, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {args[0]} failed: {result.stderr.decode(errors='replace').strip()[:300]}")
    return result.stdout


def _repository_path(value: str) -> Path:
    if value.startswith("file://"):
        parts = urlsplit(value)
        if parts.netloc not in ("", "localhost"):
            raise ConfigError({"repository": "only local file:// repositories are supported"})
        return Path(unquote(parts.path))
    if "://" in value or value.startswith("git@"):
        raise ConfigError({"repository": "only a local path or a file:// URL is supported"})
    return Path(value)


class GitConnector(Connector):
    kind = "git"

    def validate_config(self, config: dict) -> dict:
        require_object(config, allowed={"repository", "branch", "include", "exclude"})
        repository = config.get("repository")
        if not isinstance(repository, str) or not repository.strip():
            raise ConfigError({"repository": "a local path or file:// URL of a Git repository is required"})
        path = _repository_path(repository.strip())
        if not path.is_absolute():
            raise ConfigError({"repository": "must be an absolute path"})
        path = allowed_path(str(path), key="repository")
        if not path.is_dir():
            raise ConfigError({"repository": f"{path} is not a directory"})
        branch = config.get("branch", "main")
        if not isinstance(branch, str) or not branch or branch.startswith("-") or "\x00" in branch:
            raise ConfigError({"branch": "must be a branch name"})
        try:
            _git(str(path), "rev-parse", "--git-dir")
        except (RuntimeError, OSError):
            raise ConfigError({"repository": f"{path} is not a Git repository"}) from None
        try:
            _git(str(path), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")
        except RuntimeError:
            raise ConfigError({"branch": f"no branch {branch!r} in the repository"}) from None
        return {
            "repository": str(path),
            "branch": branch,
            "include": glob_list(config, "include", DEFAULT_INCLUDE),
            "exclude": glob_list(config, "exclude", []),
        }

    def fetch(self, config: dict, *, source_id: int) -> Iterator[FetchedDocument | FetchFailure]:
        repository, branch = str(allowed_path(config["repository"], key="repository")), config["branch"]
        max_bytes = settings.SOURCE_MAX_DOCUMENT_BYTES
        head = _git(repository, "rev-parse", "--verify", f"refs/heads/{branch}^{{commit}}").decode().strip()
        wanted: list[tuple[str, str]] = []  # (path, blob)
        for entry in _git(repository, "ls-tree", "-r", "-z", "--long", head).split(b"\x00"):
            if not entry:
                continue
            meta, path = entry.decode("utf-8", errors="surrogateescape").split("\t", 1)
            mode, kind, blob, size = meta.split()
            if kind != "blob" or mode in (_SUBMODULE, _SYMLINK):
                continue  # a symlink's target may be outside the repository: never followed
            if not matches(path, include=config["include"], exclude=config["exclude"]):
                continue
            if int(size) > max_bytes:
                yield FetchFailure(path, f"over the size limit ({size} > {max_bytes} bytes)")
                continue
            wanted.append((path, blob))
        last_commits = self._last_commits(repository, head, {path for path, _ in wanted})
        base_uri = Path(repository).as_uri()
        for (path, _blob), content in zip(wanted, self._blobs(repository, [b for _, b in wanted]), strict=True):
            commit, timestamp, author = last_commits.get(path, (head, None, ""))
            media_type = media_type_for(path)
            yield FetchedDocument(
                external_id=path,
                title=Path(path).stem,
                uri=f"{base_uri}/{path}?ref={branch}",
                content=content,
                media_type=media_type,
                modified_at=datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None,
                version=commit,
                metadata=document_metadata(
                    content,
                    media_type=media_type,
                    given={"commit": commit, "branch": branch, "path": path[:500], "author": author[:500]},
                ),
            )

    @staticmethod
    def _blobs(repository: str, blobs: list[str]) -> Iterator[bytes]:
        """Stream blob contents through one ``git cat-file --batch`` process."""
        if not blobs:
            return
        with subprocess.Popen(
            ["git", "-C", repository, "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        ) as process:
            # Written from a thread: git blocks on a full stdout pipe while we would block on stdin.
            def write():
                process.stdin.write("".join(f"{blob}\n" for blob in blobs).encode())
                process.stdin.close()

            writer = threading.Thread(target=write, daemon=True)
            writer.start()
            for _ in blobs:
                header = process.stdout.readline().split()
                size = int(header[2])
                content = process.stdout.read(size)
                process.stdout.read(1)  # the newline after each blob
                yield content
            writer.join()

    @staticmethod
    def _last_commits(repository: str, head: str, paths: set[str]) -> dict[str, tuple[str, int, str]]:
        """For each path, the newest commit that touched it (sha, time, author name), from one ``git log`` pass."""
        found: dict[str, tuple[str, int, str]] = {}
        if not paths:
            return found
        output = _git(repository, "log", "--format=%x01%H %ct %an", "--name-only", "-z", head)
        for record in output.split(b"\x01")[1:]:
            # With -z: "<sha> <time> <author>\0\n<name>\0<name>\0..."
            header, *names = record.split(b"\x00")
            commit, timestamp, *author = header.decode("utf-8", errors="replace").split(" ", 2)
            for name in names:
                path = name.lstrip(b"\n").decode("utf-8", errors="surrogateescape")
                if path in paths and path not in found:
                    found[path] = (commit, int(timestamp), author[0] if author else "")
            if len(found) == len(paths):
                break
        return found
