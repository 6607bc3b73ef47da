"""An export of support tickets or FAQ entries (JSON Lines or CSV): one document per record.

Which field is the id, the title, the body and so on is configured, since every
help desk exports its own column names.
"""

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.utils.dateparse import parse_datetime

from sources.connectors.base import (
    ConfigError,
    Connector,
    FetchedDocument,
    FetchFailure,
    allowed_path,
    require_object,
)
from sources.metadata import metadata_clean
from sources.parsers import ParseError, decode_text
from sources.parsers.dispatch import TICKET

_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


def _field_name(config: dict, key: str, *, required: bool, default: str | None = None) -> str | None:
    value = config.get(key, default)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError({key: "must be the name of a field of the records"})
    return value


def _field_list(config: dict, key: str, default: list[str], *, non_empty: bool = False) -> list[str]:
    value = config.get(key, default)
    valid = isinstance(value, list) and all(isinstance(name, str) and name for name in value)
    if not valid or (non_empty and not value):
        raise ConfigError({key: f"must be a {'non-empty ' if non_empty else ''}list of field names"})
    return value


class TicketsConnector(Connector):
    kind = "tickets"

    def validate_config(self, config: dict) -> dict:
        allowed = {
            "path", "format", "id_field", "title_field", "body_fields", "url_field",
            "modified_field", "access_field", "metadata_fields",
        }  # fmt: skip
        require_object(config, allowed=allowed)
        path = config.get("path")
        if not isinstance(path, str) or not Path(path).is_absolute():
            raise ConfigError({"path": "the absolute path of a .jsonl or .csv export is required"})
        resolved = allowed_path(path, key="path")
        if not resolved.is_file():
            raise ConfigError({"path": f"{path} is not a readable file"})
        format_ = config.get("format", _FORMATS.get(Path(path).suffix.lower()))
        if format_ not in ("jsonl", "csv"):
            raise ConfigError({"format": "must be 'jsonl' or 'csv' (not inferable from the file name)"})
        return {
            "path": str(resolved),
            "format": format_,
            "id_field": _field_name(config, "id_field", required=True, default="id"),
            "title_field": _field_name(config, "title_field", required=True, default="title"),
            "body_fields": _field_list(config, "body_fields", ["body"], non_empty=True),
            "url_field": _field_name(config, "url_field", required=False),
            "modified_field": _field_name(config, "modified_field", required=False),
            "access_field": _field_name(config, "access_field", required=False),
            "metadata_fields": _field_list(config, "metadata_fields", []),
        }

    def fetch(self, config: dict, *, source_id: int) -> Iterator[FetchedDocument | FetchFailure]:
        path = allowed_path(config["path"], key="path")
        max_bytes = settings.SOURCE_MAX_DOCUMENT_BYTES
        seen: set[str] = set()
        for line, record in self._records(path, config["format"]):
            if not isinstance(record, dict):
                yield FetchFailure(f"line {line}", record if isinstance(record, str) else "not an object")
                continue
            record_id = record.get(config["id_field"])
            if record_id in (None, ""):
                yield FetchFailure(f"line {line}", f"no {config['id_field']!r} field")
                continue
            record_id = str(record_id)
            if record_id in seen:
                yield FetchFailure(record_id, f"duplicate id (again on line {line})")
                continue
            seen.add(record_id)
            title = str(record.get(config["title_field"]) or f"#{record_id}")
            content = json.dumps(
                {
                    "title": title,
                    "sections": [[name, _text(record.get(name))] for name in config["body_fields"]],
                    "fields": {name: record.get(name) for name in config["metadata_fields"]},
                },
                ensure_ascii=False,
                sort_keys=True,
            ).encode()
            access_list = _principals(record.get(config["access_field"])) if config["access_field"] else None
            if len(content) > max_bytes:
                reason = f"over the size limit ({len(content)} > {max_bytes} bytes)"
                # Its viewers are known even though its text is refused: they still apply.
                yield FetchFailure(record_id, reason, access_list=access_list, access_list_known=True)
                continue
            url = config["url_field"] and record.get(config["url_field"])
            yield FetchedDocument(
                external_id=record_id,
                title=title,
                uri=str(url) if url else f"{path.as_uri()}#{record_id}",
                content=content,
                media_type=TICKET,
                modified_at=_datetime(record.get(config["modified_field"])) if config["modified_field"] else None,
                access_list=access_list,
                # The structured fields (status, priority, labels, assignee...) are filterable metadata too.
                metadata=metadata_clean({name: record.get(name) for name in config["metadata_fields"]}),
            )

    @staticmethod
    def _records(path: Path, format_: str) -> Iterator[tuple[int, dict | str]]:
        """The export's records with their line numbers. JSON Lines are read a line at a time, so an export of
        millions of tickets never sits in memory; an unreadable export fails the sync (rather than delete every
        ticket)."""
        if format_ == "csv":
            try:
                text = decode_text(path.read_bytes())
            except (OSError, ParseError) as exc:
                raise RuntimeError(f"cannot read the export {path}: {exc}") from exc
            for number, row in enumerate(csv.DictReader(io.StringIO(text)), 2):
                yield number, row
            return
        try:
            export = path.open("rb")
        except OSError as exc:
            raise RuntimeError(f"cannot read the export {path}: {exc}") from exc
        with export:
            for number, raw in enumerate(export, 1):
                if not raw.strip():
                    continue
                try:
                    line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError:
                    try:
                        line = decode_text(raw)  # an export in another encoding: guessed per line
                    except ParseError as exc:
                        yield number, f"unreadable line: {exc}"
                        continue
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, f"invalid JSON: {exc.msg}"


def _text(value) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


class EmptyAccess:
    """What an empty access field (missing, null, "", [] or only separators) means: ``SOURCE_TICKETS_EMPTY_ACCESS``."""

    HIDDEN = "hidden"  # nobody may read the ticket (the default, and any unknown value)
    SOURCE = "source"  # it has no list: whoever the source is granted to may read it


def _principals(value) -> tuple[str, ...] | None:
    """The record's access list: names from a list or a comma/semicolon-separated string.

    Every spelling of "empty" means one thing, as ``SOURCE_TICKETS_EMPTY_ACCESS`` says:
    ``()`` (nobody) or ``None`` (no list, the source grant alone decides).
    """
    if value is None:
        names = ()
    elif isinstance(value, list):
        names = tuple(str(name).strip() for name in value if name is not None and str(name).strip())
    else:
        names = tuple(name.strip() for name in str(value).replace(";", ",").split(",") if name.strip())
    if names:
        return names
    return None if settings.SOURCE_TICKETS_EMPTY_ACCESS == EmptyAccess.SOURCE else ()


def _datetime(value):
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed
    return None
