"""The connector interface: one small class per source kind, registered by kind.

A connector only fetches: it yields each document's raw bytes with what the
source system says about it. The sync hashes the bytes and parses only what is
new or changed (see :mod:`sources.parsers`), so an unchanged document costs a
hash and nothing more.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings

from ragplatform.exceptions import ErrorCode


class ConfigError(Exception):
    """A source's config is invalid; ``details`` maps field names to messages.

    ``code`` (an :class:`~ragplatform.exceptions.ErrorCode`) names a refusal of a security
    check (a path or URL the server will not read); plain invalid configs leave it ``None``.
    """

    def __init__(self, details: dict[str, str], *, code: str | None = None):
        super().__init__("; ".join(f"{key}: {value}" for key, value in details.items()))
        self.details = details
        self.code = code


@dataclass(frozen=True)
class FetchedDocument:
    """A document as the source system gives it, before parsing."""

    external_id: str
    # The source's own name for it; a title found in the content (a heading, PDF metadata) wins.
    title: str
    uri: str
    content: bytes
    # How to parse ``content``; see :func:`sources.parsers.media_type_for`.
    media_type: str
    modified_at: datetime | None = None
    # The source system's own access list (user/group names or emails), if it has one.
    access_list: tuple[str, ...] | None = None
    # The source system's version of the document (a Git commit), if it has one.
    version: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FetchFailure:
    """A document the connector found but could not read; the sync records the reason."""

    external_id: str
    reason: str
    # The access list the source gave the unreadable record, when it could tell (a ticket over the size
    # limit still names its viewers). Unknown for a document that had a list: it is hidden, not left open.
    access_list: tuple[str, ...] | None = None
    access_list_known: bool = False


class Connector:
    """Subclass, set ``kind``, implement both methods, and add the instance to the registry."""

    kind: str = ""

    def validate_config(self, config: dict) -> dict:
        """Return the normalised config or raise :class:`ConfigError` naming the bad fields."""
        raise NotImplementedError

    def fetch(self, config: dict, *, source_id: int) -> Iterator[FetchedDocument | FetchFailure]:
        """Yield every document currently in the source (or why one could not be read)."""
        raise NotImplementedError


# --- helpers shared by connectors --------------------------------------------------


def require_object(config, *, allowed: set[str]) -> dict:
    if not isinstance(config, dict):
        raise ConfigError({"config": "must be an object"})
    unknown = set(config) - allowed
    if unknown:
        raise ConfigError(dict.fromkeys(sorted(unknown), f"unknown option; allowed: {sorted(allowed)}"))
    return config


def glob_list(config: dict, key: str, default: list[str]) -> list[str]:
    patterns = config.get(key, default)
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
        raise ConfigError({key: "must be a list of glob patterns"})
    return patterns


def matches(relative: str, *, include: list[str], exclude: list[str]) -> bool:
    import fnmatch

    return any(fnmatch.fnmatch(relative, p) for p in include) and not any(fnmatch.fnmatch(relative, p) for p in exclude)


def allowed_roots() -> list[Path]:
    """The folders file-based sources may read under (``SOURCE_ALLOWED_PATHS``), symlinks resolved."""
    return [Path(os.path.realpath(root)) for root in settings.SOURCE_ALLOWED_PATHS if os.path.isabs(root)]


def allowed_path(value: str, *, key: str) -> Path:
    """``value`` resolved (``realpath``: symlinks followed) if it lies under an allowed root; else a refusal.

    Checked before anything else about the path, so that a refusal says nothing about
    what exists outside the roots. Connectors check again at every fetch: a symlink on
    the way may have been repointed since the source was saved.
    """
    resolved = Path(os.path.realpath(value))
    roots = allowed_roots()
    if not any(resolved.is_relative_to(root) for root in roots):
        named = ", ".join(map(str, roots)) or "(none)"
        raise ConfigError(
            {key: f"{value} is outside the allowed paths: {named} (SOURCE_ALLOWED_PATHS)"},
            code=ErrorCode.PATH_NOT_ALLOWED,
        )
    return resolved


def positive_int(config: dict, key: str, default: int, *, maximum: int) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ConfigError({key: f"must be an integer from 1 to {maximum}"})
    return value
