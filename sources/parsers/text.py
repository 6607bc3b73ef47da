"""Plain text in any common encoding, Markdown and source code."""

import re

from sources.metadata import front_matter
from sources.parsers.base import Parsed, ParseError

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
# Among equally plausible single-byte guesses, Western European text is the common case.
_PREFERRED = ("cp1252", "latin_1", "iso8859_15")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def decode_text(data: bytes) -> str:
    """Decode text in UTF-8/16/32 (with a BOM) or a legacy encoding guessed by charset-normalizer."""
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    if encoding is None and b"\x00" in data[:8192]:
        raise ParseError("binary content, not text")
    if encoding is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = _guess(data)
    else:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            raise ParseError(f"undecodable text (not valid {encoding.upper()})") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(_CONTROL.findall(text[:8192])) > max(8, len(text[:8192]) // 100):
        raise ParseError("binary content, not text")
    if not text.strip():
        raise ParseError("no text content")
    return text


def _guess(data: bytes) -> str:
    import charset_normalizer

    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None or best.encoding.startswith(("utf_16", "utf_32")):
        raise ParseError("undecodable text (no common encoding fits)")
    for match in matches:
        if match.encoding in _PREFERRED and match.chaos <= best.chaos:
            best = match
            break
    return str(best)


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")


def title_from_text(text: str, *, fallback: str) -> str:
    """The first Markdown heading, else the first non-empty line if short, else the fallback."""
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _HEADING.match(line)
        if match:
            return match.group(1)[:500]
        stripped = line.strip()
        return stripped[:500] if len(stripped) <= 120 else fallback
    return fallback


def parse_text(data: bytes, *, name: str) -> Parsed:
    text = decode_text(data)
    return Parsed(text=text, title=title_from_text(text, fallback="") or None)


# "---", up to 99 lines, "---" or "...": what sources.metadata.front_matter reads as metadata.
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?:.*\n){0,98}?(?:---|\.\.\.)[ \t]*(?:\n|\Z)")


def parse_markdown(data: bytes, *, name: str) -> Parsed:
    """Markdown without its front matter, which is metadata (the revision's), not text; its title wins.

    Only a block that holds metadata is front matter: a file opening with a ``---``
    rule and a second rule further down keeps its text.
    """
    text, found = decode_text(data), front_matter(data)
    if found:
        text = _FRONT_MATTER.sub("", text, count=1)
    if not text.strip():
        raise ParseError("no text content")
    title = found.get("title")
    title = title.strip()[:500] if isinstance(title, str) and title.strip() else title_from_text(text, fallback="")
    return Parsed(text=text, title=title or None)


def parse_code(data: bytes, *, name: str, language: str) -> Parsed:
    """Code goes in a fence, so that a ``# comment`` is never taken for a heading by the chunker."""
    text = decode_text(data).rstrip("\n")
    fence = "````" if "```" in text else "```"
    return Parsed(text=f"# {name}\n\n{fence}{language}\n{text}\n{fence}\n", title=name)
