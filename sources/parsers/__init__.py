"""Turning a document's raw bytes into text that keeps its structure.

Every parser returns Markdown-flavoured text: headings as ``#`` lines (PDF pages
as ``## Page N``), paragraphs separated by blank lines, code in fences, because
the chunker (:mod:`index_versions.chunking`) splits on exactly that.

Nothing here imports Django: :mod:`sources.parsers.sandbox` runs these parsers in
a child process that can be killed when one of them hangs.
"""

from sources.parsers.base import Parsed, ParseError
from sources.parsers.dispatch import media_type_for, parse_bytes
from sources.parsers.text import decode_text, title_from_text

__all__ = ["ParseError", "Parsed", "decode_text", "media_type_for", "parse_bytes", "title_from_text"]
