"""Turning raw bytes into text. Formats beyond plain text and Markdown come with the sources issue."""

import re


class ParseError(Exception):
    """The bytes cannot be turned into text; the message is the reason shown on the sync job."""


def decode_text(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif b"\x00" in data[:8192]:
        raise ParseError("binary content, not text")
    else:
        encoding = "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise ParseError(f"undecodable text (not valid {encoding.upper()})") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ParseError("no text content")
    return text


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
