"""Document metadata: small flat key/value objects that connectors read from the source system.

A revision keeps the metadata of what was fetched (a ticket's status and labels, a
page's content type, a Markdown file's front matter) and search can filter on it
(``filters.metadata``, JSONB containment). Metadata is flat on purpose: a value is a
string, number or boolean, or a list of those, so containment means "has this value"
and stays one index-free probe per candidate row.

Connectors pass what they find through :func:`metadata_clean` (lenient: unsupported
values are dropped); the sync and the upload API then apply :func:`metadata_validate`
(strict: over the limits is a per-document reason, or a 400), so nothing oversized is
stored.
"""

import json
import math
import re

from sources.media_types import MARKDOWN

MAX_KEYS = 32
MAX_BYTES = 4096  # of the compact JSON encoding
MAX_LIST_ITEMS = 50
MAX_STRING = 500
KEY_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:/ -]{0,63}$"
_KEY = re.compile(KEY_PATTERN)
_SCALARS = (str, int, float, bool)

# Front matter: a "---" line first, "key: value" lines, a closing "---" (or "...") line.
_FRONT_MATTER_MAX_LINES = 100
_INT = re.compile(r"^-?\d{1,15}$")


class MetadataError(ValueError):
    """Metadata over the limits or of an unsupported shape; the message says what to change."""


def encoded(metadata: dict) -> bytes:
    """The canonical encoding (sorted keys, compact): what the size limit and the content hash use."""
    return json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def metadata_validate(value) -> dict:
    """``value`` as stored metadata, or :class:`MetadataError` naming the limit it breaks."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MetadataError("metadata must be an object of key: value pairs")
    if len(value) > MAX_KEYS:
        raise MetadataError(f"metadata has {len(value)} keys; at most {MAX_KEYS} are kept")
    cleaned = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise MetadataError(f"metadata key {str(key)[:70]!r} is invalid: 1-64 letters, digits, spaces or _ . : / -")
        if item is None:
            continue
        if isinstance(item, list):
            if len(item) > MAX_LIST_ITEMS or not all(isinstance(x, _SCALARS) for x in item):
                raise MetadataError(
                    f"metadata {key!r}: a list holds at most {MAX_LIST_ITEMS} strings, numbers or booleans"
                )
            values = item
        elif isinstance(item, _SCALARS):
            values = [item]
        else:
            raise MetadataError(f"metadata {key!r}: a value is a string, number, boolean or a list of those")
        if any(isinstance(x, str) and len(x) > MAX_STRING for x in values):
            raise MetadataError(f"metadata {key!r}: strings are at most {MAX_STRING} characters")
        if any(isinstance(x, float) and not math.isfinite(x) for x in values):
            raise MetadataError(f"metadata {key!r}: numbers must be finite")
        cleaned[key] = item
    size = len(encoded(cleaned))
    if size > MAX_BYTES:
        raise MetadataError(f"metadata is {size} bytes as JSON; the limit is {MAX_BYTES}")
    return cleaned


def metadata_clean(value: dict) -> dict:
    """Lenient: keep the flat values of ``value`` (strings, numbers, booleans, lists of those).

    Nested objects, nulls and keys that are not valid names are dropped, since a
    source's records vary; sizes are left to :func:`metadata_validate`.
    """
    cleaned = {}
    for key, item in (value or {}).items():
        key = str(key).strip()
        if not _KEY.match(key) or item is None or item == "":
            continue
        if isinstance(item, list):
            item = [x for x in item if isinstance(x, _SCALARS)]
            if not item:
                continue
        elif not isinstance(item, _SCALARS):
            continue
        cleaned[key] = item
    return cleaned


def front_matter(content: bytes) -> dict:
    """The simple YAML-like front matter at the top of a Markdown file, or ``{}``.

    Understood: ``key: value`` (quoted or bare; ``true``/``false`` and integers
    typed), inline lists ``key: [a, b]`` and block lists (``key:`` then ``- a``
    lines). Anything else (nesting, multi-line strings) is skipped line by line: no
    YAML library, so no tags, aliases or surprises such as ``no`` becoming false.
    """
    if not content.startswith(b"---"):
        return {}
    lines = content[:16384].decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    found: dict = {}
    current_list: list | None = None
    for line in lines[1:_FRONT_MATTER_MAX_LINES]:
        stripped = line.strip()
        if stripped in ("---", "..."):
            return metadata_clean(found)
        if not stripped or stripped.startswith("#"):
            continue
        if current_list is not None and stripped.startswith("- "):
            current_list.append(_scalar(stripped[2:]))
            continue
        current_list = None
        if line[:1].isspace() or ":" not in stripped:
            continue  # nested or not a key: skipped
        key, _, raw = stripped.partition(":")
        key, raw = key.strip().strip("'\""), raw.strip()
        if not raw:
            current_list = found[key] = []
        elif raw.startswith("[") and raw.endswith("]"):
            found[key] = [_scalar(part) for part in raw[1:-1].split(",") if part.strip()]
        elif not raw.startswith(("{", "|", ">", "&", "*", "!")):
            found[key] = _scalar(raw)
    return {}  # no closing line: not front matter


def _scalar(raw: str):
    raw = raw.split(" #", 1)[0].strip() if not raw.startswith(("'", '"')) else raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if _INT.match(raw):
        return int(raw)
    return raw


def document_metadata(content: bytes, *, media_type: str, given: dict | None = None) -> dict:
    """What a connector knows about a file: its front matter (Markdown), then ``given`` on top."""
    found = front_matter(content) if media_type == MARKDOWN else {}
    return {**found, **metadata_clean(given or {})}
