"""JSON and CSV: records rendered as ``field: value`` lines, one section per record."""

import csv
import io
import json

from sources.parsers.base import Parsed, ParseError
from sources.parsers.text import decode_text

MAX_RECORDS = 100_000


def render_record(record: dict) -> str:
    lines = []
    for key, value in record.items():
        if value is None or value == "":
            continue
        if isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False, sort_keys=True)
        lines.append(f"{key}: {value}")
    return "\n".join(lines)


def parse_json(data: bytes, *, name: str) -> Parsed:
    try:
        value = json.loads(decode_text(data))
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc}") from None
    records = value if isinstance(value, list) else [value]
    return _records(records, name=name)


def parse_csv(data: bytes, *, name: str) -> Parsed:
    try:
        rows = list(csv.DictReader(io.StringIO(decode_text(data))))
    except csv.Error as exc:
        raise ParseError(f"invalid CSV: {exc}") from None
    return _records(rows, name=name)


def _records(records: list, *, name: str) -> Parsed:
    if len(records) > MAX_RECORDS:
        raise ParseError(f"refused: {len(records)} records in one file (limit {MAX_RECORDS})")
    sections = []
    for number, record in enumerate(records, 1):
        body = render_record(record) if isinstance(record, dict) else json.dumps(record, ensure_ascii=False)
        if body.strip():
            sections.append(f"## Record {number}\n\n{body}")
    if not sections:
        raise ParseError("no records")
    return Parsed(text=f"# {name}\n\n" + "\n\n".join(sections) + "\n", title=name)


def parse_ticket(data: bytes, *, name: str) -> Parsed:
    """One support ticket or FAQ entry, as the tickets connector encodes it: title, then fields."""
    try:
        record = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ParseError(f"invalid record: {exc}") from None
    title = str(record.get("title") or name).strip()
    parts = [f"# {title}"]
    for field, value in record.get("sections", []):
        if str(value).strip():
            parts.append(f"## {field}\n\n{str(value).strip()}")
    fields = render_record(record.get("fields", {}))
    if fields:
        parts.append(fields)
    if len(parts) == 1:
        raise ParseError("record has no text")
    return Parsed(text="\n\n".join(parts) + "\n", title=title)
