"""Connectors by kind. Adding one is a module here plus one entry in ``_REGISTRY``."""

from sources.connectors.base import ConfigError, Connector, FetchedDocument, FetchFailure
from sources.connectors.folder import FolderConnector
from sources.connectors.git import GitConnector
from sources.connectors.http import HttpConnector
from sources.connectors.tickets import TicketsConnector
from sources.connectors.upload import UploadConnector

_REGISTRY: dict[str, Connector] = {
    connector.kind: connector
    for connector in (FolderConnector(), UploadConnector(), GitConnector(), HttpConnector(), TicketsConnector())
}


def get_connector(kind: str) -> Connector:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise ConfigError({"kind": f"unknown source kind {kind!r}; one of {sorted(_REGISTRY)}"}) from None


def connector_kinds() -> list[str]:
    return sorted(_REGISTRY)


__all__ = ["ConfigError", "Connector", "FetchFailure", "FetchedDocument", "connector_kinds", "get_connector"]
