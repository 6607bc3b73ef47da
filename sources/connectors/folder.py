"""A directory tree on the server's file system."""

import fnmatch
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from sources.connectors.base import ConfigError, Connector, FetchedDocument, FetchFailure
from sources.parsers import ParseError, decode_text, title_from_text

DEFAULT_INCLUDE = ["**/*.md", "**/*.txt", "*.md", "*.txt"]


class FolderConnector(Connector):
    kind = "folder"

    def validate_config(self, config: dict) -> dict:
        if not isinstance(config, dict):
            raise ConfigError({"config": "must be an object"})
        unknown = set(config) - {"path", "include", "exclude"}
        if unknown:
            raise ConfigError(dict.fromkeys(sorted(unknown), "unknown option for a folder source"))
        path = config.get("path")
        if not isinstance(path, str) or not path.strip():
            raise ConfigError({"path": "an absolute directory path is required"})
        root = Path(path)
        if not root.is_absolute():
            raise ConfigError({"path": "must be an absolute path"})
        if not root.is_dir():
            raise ConfigError({"path": f"{path} is not a readable directory"})
        normalised = {"path": str(root.resolve())}
        for key, default in (("include", DEFAULT_INCLUDE), ("exclude", [])):
            patterns = config.get(key, default)
            if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
                raise ConfigError({key: "must be a list of glob patterns"})
            normalised[key] = patterns
        return normalised

    def fetch(self, config: dict) -> Iterator[FetchedDocument | FetchFailure]:
        root = Path(config["path"]).resolve()
        max_bytes = settings.SOURCE_MAX_DOCUMENT_BYTES
        for path in sorted(self._matching_files(root, config)):
            relative = path.relative_to(root).as_posix()
            try:
                resolved = path.resolve(strict=True)
            except OSError as exc:
                yield FetchFailure(relative, f"cannot read: {exc.strerror or exc}")
                continue
            if not resolved.is_relative_to(root):
                yield FetchFailure(relative, "refused: the path leads outside the source folder")
                continue
            stat = resolved.stat()
            if stat.st_size == 0:
                yield FetchFailure(relative, "empty file")
                continue
            if stat.st_size > max_bytes:
                yield FetchFailure(relative, f"over the size limit ({stat.st_size} > {max_bytes} bytes)")
                continue
            try:
                text = decode_text(resolved.read_bytes())
            except ParseError as exc:
                yield FetchFailure(relative, str(exc))
                continue
            yield FetchedDocument(
                external_id=relative,
                title=title_from_text(text, fallback=path.stem),
                uri=resolved.as_uri(),
                text=text,
                modified_at=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
            )

    @staticmethod
    def _matching_files(root: Path, config: dict) -> Iterator[Path]:
        include, exclude = config["include"], config["exclude"]
        # followlinks=False: a symlinked directory can never walk us out of the root.
        for directory, _dirs, files in os.walk(root, followlinks=False):
            for name in files:
                path = Path(directory, name)
                relative = path.relative_to(root).as_posix()
                if any(fnmatch.fnmatch(relative, p) for p in include) and not any(
                    fnmatch.fnmatch(relative, p) for p in exclude
                ):
                    yield path
