"""A directory tree on the server's file system."""

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

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

_FORMATS = ["md", "txt", "pdf", "docx", "html", "htm"]
DEFAULT_INCLUDE = [f"**/*.{ext}" for ext in _FORMATS] + [f"*.{ext}" for ext in _FORMATS]


class FolderConnector(Connector):
    kind = "folder"

    def validate_config(self, config: dict) -> dict:
        require_object(config, allowed={"path", "include", "exclude"})
        path = config.get("path")
        if not isinstance(path, str) or not path.strip():
            raise ConfigError({"path": "an absolute directory path is required"})
        if not Path(path).is_absolute():
            raise ConfigError({"path": "must be an absolute path"})
        root = allowed_path(path, key="path")
        if not root.is_dir():
            raise ConfigError({"path": f"{path} is not a readable directory"})
        return {
            "path": str(root),
            "include": glob_list(config, "include", DEFAULT_INCLUDE),
            "exclude": glob_list(config, "exclude", []),
        }

    def fetch(self, config: dict, *, source_id: int) -> Iterator[FetchedDocument | FetchFailure]:
        root = allowed_path(config["path"], key="path")
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
            if stat.st_size > max_bytes:  # checked before reading: the file may be huge
                yield FetchFailure(relative, f"over the size limit ({stat.st_size} > {max_bytes} bytes)")
                continue
            try:
                content = resolved.read_bytes()
            except OSError as exc:
                yield FetchFailure(relative, f"cannot read: {exc.strerror or exc}")
                continue
            media_type = media_type_for(path.name)
            yield FetchedDocument(
                external_id=relative,
                title=path.stem,
                uri=resolved.as_uri(),
                content=content,
                media_type=media_type,
                modified_at=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
                metadata=document_metadata(content, media_type=media_type),
            )

    @staticmethod
    def _matching_files(root: Path, config: dict) -> Iterator[Path]:
        # followlinks=False: a symlinked directory can never walk us out of the root.
        for directory, _dirs, files in os.walk(root, followlinks=False):
            for name in files:
                path = Path(directory, name)
                relative = path.relative_to(root).as_posix()
                if matches(relative, include=config["include"], exclude=config["exclude"]):
                    yield path
