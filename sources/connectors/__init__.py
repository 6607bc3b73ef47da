"""Connectors by kind. Adding one is a module here plus one line in ``_REGISTRY``."""

from sources.connectors.base import ConfigError, Connector, FetchedDocument, FetchFailure
from sources.connectors.folder import FolderConnector

_REGISTRY: dict[str, Connector] = {connector.kind: connector for connector in (FolderConnector(),)}


def get_connector(kind: str) -> Connector:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise ConfigError({"kind": f"unknown source kind {kind!r}; one of {sorted(_REGISTRY)}"}) from None


__all__ = ["ConfigError", "Connector", "FetchFailure", "FetchedDocument", "get_connector"]
