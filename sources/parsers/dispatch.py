"""Which parser reads which media type."""

from pathlib import PurePosixPath

from sources.media_types import CODE, CSV, DOCX, HTML, JSON, MARKDOWN, PDF, TEXT, TICKET
from sources.parsers import docx, html, pdf, records, text
from sources.parsers.base import Parsed, ParseError

__all__ = ["CODE", "CSV", "DOCX", "HTML", "JSON", "MARKDOWN", "PDF", "TEXT", "TICKET", "media_type_for", "parse_bytes"]


_CODE_LANGUAGES = {
    ".py": "python", ".js": "javascript", ".mjs": "javascript", ".ts": "typescript", ".tsx": "tsx",
    ".jsx": "jsx", ".java": "java", ".kt": "kotlin", ".go": "go", ".rs": "rust", ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".cs": "csharp", ".rb": "ruby", ".php": "php",
    ".swift": "swift", ".scala": "scala", ".sh": "bash", ".bash": "bash", ".sql": "sql", ".r": "r",
    ".css": "css", ".scss": "scss", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".ini": "ini",
    ".cfg": "ini", ".xml": "xml", ".proto": "protobuf", ".tf": "hcl", ".lua": "lua", ".pl": "perl",
}  # fmt: skip
_BY_SUFFIX = {
    ".pdf": PDF, ".docx": DOCX, ".html": HTML, ".htm": HTML, ".xhtml": HTML, ".md": MARKDOWN,
    ".markdown": MARKDOWN, ".mdx": MARKDOWN, ".txt": TEXT, ".text": TEXT, ".rst": TEXT, ".log": TEXT,
    ".json": JSON, ".jsonl": JSON, ".csv": CSV,
    **dict.fromkeys(_CODE_LANGUAGES, CODE),
}  # fmt: skip
_NAMES = {"dockerfile": CODE, "makefile": CODE, "readme": TEXT, "license": TEXT}
# File name suffixes with a parser: what a connector picks up by default.
SUPPORTED_SUFFIXES = sorted(_BY_SUFFIX)


def media_type_for(name: str, *, declared: str = "") -> str:
    """The media type a document is parsed as: by file name first, else what the source declared."""
    path = PurePosixPath(name.lower())
    by_name = _BY_SUFFIX.get(path.suffix) or _NAMES.get(path.name)
    if by_name:
        return by_name
    declared = declared.split(";", 1)[0].strip().lower()
    if declared in {PDF, DOCX, HTML, MARKDOWN, TEXT, JSON, CSV, TICKET, "application/xhtml+xml"}:
        return HTML if declared == "application/xhtml+xml" else declared
    return TEXT if declared.startswith("text/") or not declared else declared


def parse_bytes(data: bytes, *, media_type: str, name: str) -> Parsed:
    """Parse in this process. The sync uses :func:`sources.parsers.sandbox.parse` (with a timeout)."""
    if not data:
        raise ParseError("empty file")
    if media_type == PDF:
        return pdf.parse_pdf(data, name=name)
    if media_type == DOCX:
        return docx.parse_docx(data, name=name)
    if media_type == HTML:
        return html.parse_html(data, name=name)
    if media_type == JSON:
        if name.lower().endswith(".jsonl"):
            lines = [line for line in data.splitlines() if line.strip()]
            return records.parse_json(b"[" + b",".join(lines) + b"]", name=name)
        return records.parse_json(data, name=name)
    if media_type == CSV:
        return records.parse_csv(data, name=name)
    if media_type == TICKET:
        return records.parse_ticket(data, name=name)
    if media_type == CODE:
        language = _CODE_LANGUAGES.get(PurePosixPath(name.lower()).suffix, "")
        return text.parse_code(data, name=PurePosixPath(name).name, language=language)
    if media_type == MARKDOWN:
        return text.parse_markdown(data, name=name)
    if media_type == TEXT or media_type.startswith("text/"):
        return text.parse_text(data, name=name)
    raise ParseError(f"unsupported format {media_type!r}")
