"""The connector interface: one small class per source kind, registered by kind."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime


class ConfigError(Exception):
    """A source's config is invalid; ``details`` maps field names to messages."""

    def __init__(self, details: dict[str, str]):
        super().__init__("; ".join(f"{key}: {value}" for key, value in details.items()))
        self.details = details


@dataclass(frozen=True)
class FetchedDocument:
    """A document as the source system gives it, before parsing."""

    external_id: str
    title: str
    uri: str
    text: str
    modified_at: datetime | None = None
    # The source system's own access list (user/group names or emails), if it has one.
    access_list: tuple[str, ...] | None = None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FetchFailure:
    """A document the connector found but could not read; the sync records the reason."""

    external_id: str
    reason: str


class Connector:
    kind: str = ""

    def validate_config(self, config: dict) -> dict:
        """Return the normalised config or raise :class:`ConfigError`."""
        raise NotImplementedError

    def fetch(self, config: dict) -> Iterator[FetchedDocument | FetchFailure]:
        """Yield every document currently in the source (or why one could not be read)."""
        raise NotImplementedError
