"""Word documents (DOCX): headings by style, paragraphs and tables; zip bombs and encryption refused."""

import io
import zipfile

from sources.parsers.base import Parsed, ParseError

# An Office document's XML compresses well, but not a thousandfold.
MAX_COMPRESSION_RATIO = 100
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_MEMBERS = 10_000
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def check_zip(data: bytes) -> None:
    """Refuse a zip whose members would expand beyond sane limits, before anything unpacks it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ParseError("corrupt DOCX: not a zip archive") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise ParseError(f"refused: DOCX has {len(members)} archive members (zip bomb?)")
        total = sum(member.file_size for member in members)
        compressed = sum(member.compress_size for member in members) or 1
        if total > MAX_UNCOMPRESSED_BYTES or total / compressed > MAX_COMPRESSION_RATIO:
            raise ParseError(f"refused: DOCX expands to {total} bytes from {len(data)} (zip bomb?)")


def parse_docx(data: bytes, *, name: str) -> Parsed:
    if data.startswith(_OLE_MAGIC):
        # Password-protected OOXML is an OLE container holding the encrypted package.
        raise ParseError("encrypted DOCX: password-protected documents cannot be indexed")
    check_zip(data)
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ParseError(f"corrupt DOCX: {type(exc).__name__}: {exc}"[:300]) from None
    except Exception as exc:  # noqa: BLE001 -- lxml's XMLSyntaxError and friends: a damaged package
        raise ParseError(f"corrupt DOCX: {type(exc).__name__}: {exc}"[:300]) from None
    blocks = []
    for block in document.element.body.iterchildren():
        tag = block.tag.rsplit("}", 1)[-1]
        if tag == "p":
            blocks.append(_paragraph(docx.text.paragraph.Paragraph(block, document)))
        elif tag == "tbl":
            table = docx.table.Table(block, document)
            rows = [" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows]
            blocks.append("\n".join(row for row in rows if row.strip(" |")))
    text = "\n\n".join(block for block in blocks if block.strip())
    if not text.strip():
        raise ParseError("DOCX has no text")
    title = (document.core_properties.title or "").strip() or None
    return Parsed(text=text + "\n", title=title)


def _paragraph(paragraph) -> str:
    text = paragraph.text.strip()
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if text and style == "Title":
        return f"# {text}"
    if text and style.startswith("Heading "):
        level = style.removeprefix("Heading ").strip()
        return f"{'#' * min(int(level), 6) if level.isdigit() else '#'} {text}"
    if text and style.startswith("List"):
        return f"- {text}"
    return text
