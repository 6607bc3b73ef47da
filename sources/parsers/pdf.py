"""PDF text layer, one ``## Page N`` section per page (scanned pages without text are skipped)."""

import io
import logging

from sources.parsers.base import Parsed, ParseError


def parse_pdf(data: bytes, *, name: str) -> Parsed:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs every oddity of a damaged file as a warning; the reason goes on the sync job instead.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if not data.lstrip()[:5] == b"%PDF-":
        raise ParseError("corrupt PDF: no PDF header")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise ParseError("encrypted PDF: password-protected documents cannot be indexed")
        pages = [page.extract_text() or "" for page in reader.pages]
        metadata = reader.metadata
        title = (metadata.title or "").strip() if metadata else ""
    except ParseError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise ParseError(f"corrupt PDF: {type(exc).__name__}: {exc}"[:300]) from None
    sections = [f"## Page {number}\n\n{text.strip()}" for number, text in enumerate(pages, 1) if text.strip()]
    if not sections:
        raise ParseError("PDF has no text layer (scanned images only?)")
    heading = f"# {title}\n\n" if title else ""
    return Parsed(text=heading + "\n\n".join(sections) + "\n", title=title or None)
