from dataclasses import dataclass


class ParseError(Exception):
    """The bytes cannot be turned into text; the message is the reason shown on the sync job."""


@dataclass(frozen=True)
class Parsed:
    text: str
    # The document's own title (a heading, PDF/DOCX metadata, an HTML <title>), if it has one.
    title: str | None = None
