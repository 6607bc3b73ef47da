"""Real documents for the tests, written with the libraries that produce them in the wild."""

import io
import zipfile


def pdf_bytes(pages: list[str], *, title: str = "") -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def docx_bytes(blocks: list[tuple[str, str]], *, title: str = "") -> bytes:
    """``blocks``: ("h1"/"h2"/"p", text) or ("table", "a|b;c|d")."""
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    for kind, text in blocks:
        if kind.startswith("h"):
            document.add_heading(text, level=int(kind[1:]))
        elif kind == "table":
            rows = [row.split("|") for row in text.split(";")]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
        else:
            document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def encrypted_docx_bytes(password: str = "secret") -> bytes:  # noqa: S107 - a test file's password
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = OOXMLFile(io.BytesIO(docx_bytes([("p", "Confidential.")])))
    out = io.BytesIO()
    plain.encrypt(password, out)
    return out.getvalue()


def zip_bomb_docx_bytes(expanded_mb: int = 300) -> bytes:
    """A real DOCX with one extra member that inflates from ~300 KB to ``expanded_mb`` MB."""
    source = zipfile.ZipFile(io.BytesIO(docx_bytes([("p", "Harmless looking.")])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for member in source.infolist():
            bomb.writestr(member, source.read(member))
        with bomb.open("word/media/filler.bin", "w", force_zip64=True) as filler:
            block = b"\0" * (1024 * 1024)
            for _ in range(expanded_mb):
                filler.write(block)
    return out.getvalue()
